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
/// The threads are a pool kept for the whole run ([`rayon`]'s, of [`threads`] threads): work
/// is spread hundreds of times in an import, a chunk at a time, and a thread started for each
/// would often start after the others had done the chunk. Each thread takes more items as it is
/// free, so that a run of costly items (a project's large variable set among small documents)
/// is shared rather than left to the one thread that an even split would give it.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    if threads() <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    pool().install(|| items.par_iter().with_max_len(BLOCK_MAX).map(&f).collect())
}

/// Items a thread of the pool takes at a time at most, so that costly items in a row are shared.
const BLOCK_MAX: usize = 64;

/// The pool of [`threads`] threads that [`map_in_order`] spreads work over, started once.
fn pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads())
            .thread_name(|n| format!("cuttle-worker-{n}"))
            .build()
            .expect("the system starts threads")
    })
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

    /// Work goes to the pool's threads, the same ones every time, and to more than one of them.
    #[test]
    fn work_is_spread_over_the_pool_kept_for_the_run() {
        if super::threads() < 2 {
            return;
        }
        let workers = || {
            let items: Vec<u32> = (0..200).collect();
            let names = super::map_in_order(&items, |_| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                std::thread::current().name().map(str::to_owned)
            });
            names.into_iter().collect::<std::collections::BTreeSet<_>>()
        };
        let pool: std::collections::BTreeSet<_> = (0..super::threads())
            .map(|n| Some(format!("cuttle-worker-{n}")))
            .collect();
        let (first, second) = (workers(), workers());
        assert!(first.len() >= 2, "{first:?}");
        assert!(
            first.is_subset(&pool) && second.is_subset(&pool),
            "{first:?} {second:?}"
        );
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
