//! Work spread over every core, its results in the order of its inputs, so that what follows
//! (and the first error reported) does not depend on the threads; and the chunks it is taken in,
//! bounded in number and in bytes, so that memory does not follow the size of the work.

/// `f` of every item, on up to `available_parallelism` (at most 8) threads, each taking one
/// contiguous run of the items; the results in the items' order.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    if threads == 1 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let run = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(run)
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(results) => results,
                // A panic in `f` is the caller's panic.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
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
