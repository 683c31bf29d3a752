//! A fixed-capacity ring buffer: the storage behind every rolling window.

/// The last `capacity` values pushed, in one allocation made at construction.
///
/// Slots are written in order from index 0 and wrap, so until the ring is full
/// the filled slots are exactly `buf[..len]`; once full, every slot is filled.
/// Either way [`Ring::filled`] is one contiguous slice (in no particular order),
/// which is what an order-independent scan such as a rank count wants.
#[derive(Debug, Clone)]
pub(crate) struct Ring<T> {
    buf: Box<[T]>,
    /// Slot the next push writes.
    next: usize,
    /// Number of filled slots, at most `buf.len()`.
    len: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// A ring of `capacity` slots. The caller has checked `capacity >= 1`.
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity >= 1);
        Self { buf: vec![T::default(); capacity].into_boxed_slice(), next: 0, len: 0 }
    }

    /// Stores `x` and returns the value it evicted, if the ring was full.
    #[inline]
    pub(crate) fn push(&mut self, x: T) -> Option<T> {
        let old = std::mem::replace(&mut self.buf[self.next], x);
        self.next += 1;
        if self.next == self.buf.len() {
            self.next = 0;
        }
        if self.len == self.buf.len() {
            Some(old)
        } else {
            self.len += 1;
            None
        }
    }

    /// The filled slots, in storage order (not time order).
    #[inline]
    pub(crate) fn filled(&self) -> &[T] {
        &self.buf[..self.len]
    }

    /// Number of values held.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Whether every slot holds a value.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// Forgets every value; keeps the allocation.
    pub(crate) fn clear(&mut self) {
        self.next = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn push_evicts_the_oldest_once_full() {
        let mut r = Ring::<i32>::new(3);
        assert_eq!(r.push(1), None);
        assert_eq!(r.push(2), None);
        assert_eq!(r.filled(), &[1, 2]);
        assert_eq!(r.push(3), None);
        assert!(r.is_full());
        assert_eq!(r.push(4), Some(1));
        assert_eq!(r.push(5), Some(2));
        let mut held = r.filled().to_vec();
        held.sort_unstable();
        assert_eq!(held, [3, 4, 5]);
        r.clear();
        assert_eq!(r.len(), 0);
        assert_eq!(r.push(9), None);
        assert_eq!(r.filled(), &[9]);
    }

    #[test]
    fn capacity_one_always_holds_the_newest() {
        let mut r = Ring::<i32>::new(1);
        assert_eq!(r.push(1), None);
        assert_eq!(r.push(2), Some(1));
        assert_eq!(r.filled(), &[2]);
        assert_eq!(r.capacity(), 1);
    }
}
