#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A blocking first-in-first-out queue between two threads, holding at most
/// `capacity` elements: a full queue stops the producer, an empty one the
/// consumer. `close()` ends it after the queued elements; `cancel()` ends it
/// at once (both sides return nil/false), which is how a failing stage stops
/// the others.
public final class BoundedQueue<Element>: @unchecked Sendable {
    // @unchecked: every field is touched only with `mutex` held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var elements: [Element?]
    private var head = 0
    private var stored = 0
    private var closed = false
    private var cancelled = false

    public init(capacity: Int) {
        precondition(capacity > 0)
        elements = Array(repeating: nil, count: capacity)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        changed.deallocate()
    }

    private func locked<R>(_ body: () -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Adds `element`, waiting for room; false if the queue was cancelled or closed.
    @discardableResult
    public func push(_ element: Element) -> Bool {
        locked {
            while stored == elements.count && !cancelled && !closed { pthread_cond_wait(changed, mutex) }
            guard !cancelled && !closed else { return false }
            elements[(head + stored) % elements.count] = element
            stored += 1
            pthread_cond_broadcast(changed)
            return true
        }
    }

    /// The next element, waiting for one; nil once the queue is closed and
    /// empty, or cancelled.
    public func pop() -> Element? {
        locked {
            while stored == 0 && !cancelled && !closed { pthread_cond_wait(changed, mutex) }
            guard !cancelled, stored > 0 else { return nil }
            let element = elements[head]
            elements[head] = nil
            head = (head + 1) % elements.count
            stored -= 1
            pthread_cond_broadcast(changed)
            return element
        }
    }

    /// No more elements will come: `pop` returns the queued ones, then nil.
    public func close() {
        locked {
            closed = true
            pthread_cond_broadcast(changed)
        }
    }

    /// Ends the queue now: waiting and later calls on both sides return.
    public func cancel() {
        locked {
            cancelled = true
            pthread_cond_broadcast(changed)
        }
    }
}
