//! Work spread over every core, its results in the order of its inputs, so that what follows
//! (and the first error reported) does not depend on the threads; and the chunks it is taken in,
//! bounded in number and in bytes, so that memory does not follow the size of the work. A
//! pipeline's stages overlap: what needs only its input is computed a chunk ahead ([`ahead`],
//! [`map_ahead`]) of what must follow in order on the caller's thread (a transaction's writes,
//! an import's combining of its sources).

/// How many threads work is spread over: `available_parallelism`, at most 8. Asked once: on
/// Linux the answer reads the process's control groups, several files, and work is spread a
/// chunk at a time, hundreds of times in an import.
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8)
    })
}

/// `f` of every item, on up to [`threads`] threads; the results in the items' order.
///
/// The threads take the items a few at a time as each is ready for more, so that a run of
/// costly items (a project's large variable set among small documents) is shared rather than
/// left to the one thread that an even split would give it.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = threads().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    // Small enough to share a chunk's costly run, large enough that taking them costs nothing
    // beside the work: a few dozen blocks per thread.
    let block = items.len().div_ceil(threads * 32).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(block, std::sync::atomic::Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + block).min(items.len());
            done.push((start, items[start..end].iter().map(&f).collect::<Vec<R>>()));
        }
    };
    let mut blocks: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut blocks = work();
        for other in others {
            match other.join() {
                Ok(theirs) => blocks.extend(theirs),
                // A panic in `f` is the caller's panic.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        blocks
    });
    blocks.sort_unstable_by_key(|(start, _)| *start);
    let mut results = Vec::with_capacity(items.len());
    for (_, block) in blocks {
        results.extend(block);
    }
    results
}

/// [`map_in_order`] of `items` a chunk at a time, one chunk ahead of `consume`, which gets
/// every result in the items' order (see [`ahead`]).
///
/// `chunk` says how many of the items left make the next chunk (at least one is taken). When
/// `consume` returns without taking every result, what was computed ahead is dropped. A panic
/// in `f` is the caller's panic, raised where `consume` reaches that chunk.
pub fn map_ahead<T: Sync, R: Send, X>(
    items: &[T],
    chunk: impl Fn(&[T]) -> usize + Send,
    f: impl Fn(&T) -> R + Send + Sync,
    consume: impl FnOnce(&mut Ahead<'_, R>) -> X,
) -> X {
    std::thread::scope(|scope| {
        let mut results = ahead(scope, move |feed| {
            let mut at = 0;
            while at < items.len() {
                let end = (at + chunk(&items[at..]).max(1)).min(items.len());
                if !feed.send(map_in_order(&items[at..end], &f)) {
                    return;
                }
                at = end;
            }
        });
        consume(&mut results)
    })
}

/// The results that `produce` sends, a chunk at a time, as one stream in their order: while
/// this thread handles one chunk, `produce` prepares the next on another thread (and, through
/// [`map_in_order`], on every core). Work that needs only its input overlaps with the work that
/// must follow it in order, and at most two chunks are held at once: the one being handled and
/// the next, which waits until it is asked for.
pub fn ahead<'scope, R: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    produce: impl FnOnce(&Feed<R>) + Send + 'scope,
) -> Ahead<'scope, R> {
    // A rendezvous: a chunk prepared waits until it is asked for.
    let (send, receive) = std::sync::mpsc::sync_channel(0);
    let producer = scope.spawn(move || produce(&Feed(send)));
    Ahead {
        current: Vec::new().into_iter(),
        receive,
        producer: Some(producer),
    }
}

/// Where [`ahead`]'s producer sends its chunks.
pub struct Feed<R>(std::sync::mpsc::SyncSender<Vec<R>>);

impl<R> Feed<R> {
    /// Sends the next chunk, once it is asked for; `false` when the stream is no longer read
    /// (the producer should stop).
    pub fn send(&self, chunk: Vec<R>) -> bool {
        self.0.send(chunk).is_ok()
    }
}

/// The stream of [`ahead`]: the producer's results in their order. A panic of the producer is
/// raised here, where the stream reaches it.
pub struct Ahead<'scope, R> {
    current: std::vec::IntoIter<R>,
    receive: std::sync::mpsc::Receiver<Vec<R>>,
    producer: Option<std::thread::ScopedJoinHandle<'scope, ()>>,
}

impl<R> Iterator for Ahead<'_, R> {
    type Item = R;

    fn next(&mut self) -> Option<R> {
        loop {
            if let Some(result) = self.current.next() {
                return Some(result);
            }
            match self.receive.recv() {
                Ok(chunk) => self.current = chunk.into_iter(),
                // Every chunk is taken, or the producer panicked: its panic is the caller's.
                Err(_) => {
                    if let Some(Err(panic)) = self.producer.take().map(|p| p.join()) {
                        std::panic::resume_unwind(panic);
                    }
                    return None;
                }
            }
        }
    }
}

/// How many of `items` make the next chunk: at most `max_items`, and no more than `max_bytes`
/// by `size`, unless the first alone is larger (at least one, if there is any).
pub fn chunk_len<T>(
    items: &[T],
    max_items: usize,
    max_bytes: usize,
    size: impl Fn(&T) -> usize,
) -> usize {
    let mut bytes = 0;
    let mut n = 0;
    for item in items.iter().take(max_items) {
        if n > 0 && bytes + size(item) > max_bytes {
            break;
        }
        bytes += size(item);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_in_the_order_of_the_items() {
        for n in [0, 1, 2, 3, 7, 1000] {
            let items: Vec<u32> = (0..n).collect();
            let doubled = super::map_in_order(&items, |i| i * 2);
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn results_ahead_come_in_the_order_of_the_items_whatever_the_chunks() {
        for n in [0, 1, 2, 3, 7, 1000] {
            let items: Vec<u32> = (0..n).collect();
            for size in [1, 3, 64, 5000] {
                let doubled = super::map_ahead(
                    &items,
                    |rest| rest.len().min(size),
                    |i| i * 2,
                    |ahead| ahead.collect::<Vec<_>>(),
                );
                assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
            }
        }
        // A chunk of none is taken as a chunk of one: the work still ends.
        let items = [1, 2, 3];
        assert_eq!(
            super::map_ahead(&items, |_| 0, |i| *i, |a| a.sum::<i32>()),
            6
        );
    }

    #[test]
    fn a_consumer_may_stop_early_and_a_panic_ahead_is_the_callers() {
        let items: Vec<u32> = (0..10_000).collect();
        let first = super::map_ahead(
            &items,
            |_| 10,
            |i| *i,
            |ahead| ahead.take(15).collect::<Vec<_>>(),
        );
        assert_eq!(first, (0..15).collect::<Vec<_>>());

        let panicked = std::panic::catch_unwind(|| {
            super::map_ahead(
                &items,
                |_| 100,
                |i| if *i == 500 { panic!("item 500") } else { *i },
                |ahead| ahead.count(),
            )
        })
        .expect_err("the panic reaches the caller");
        assert_eq!(panicked.downcast_ref::<&str>(), Some(&"item 500"));
    }

    #[test]
    fn a_chunk_is_bounded_in_items_and_in_bytes_but_never_empty() {
        let sizes = [3, 3, 3, 10, 1];
        let len = |items: &[usize], n, bytes| super::chunk_len(items, n, bytes, |s| *s);
        assert_eq!(len(&sizes, 2, 100), 2);
        assert_eq!(len(&sizes, 10, 7), 2);
        assert_eq!(
            len(&sizes[3..], 10, 7),
            1,
            "one larger than the bound alone"
        );
        assert_eq!(len(&[], 10, 7), 0);
    }
}
