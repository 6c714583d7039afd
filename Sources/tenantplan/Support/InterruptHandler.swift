import Foundation
import TenantPlanKit

/// The one signal handler: on the first SIGINT, SIGTERM or SIGHUP the run stops gracefully
/// (nothing new starts, running statements are canceled and roll back); on the second,
/// `second` runs (removing a throwaway cluster, say) and the process exits 130 at once.
final class InterruptHandler: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private var count = 0
    private let lock = NSLock()
    private let control: RunControl
    private let second: @Sendable () -> Void

    init(control: RunControl, second: @escaping @Sendable () -> Void = {}) {
        self.control = control
        self.second = second
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in self?.handle() }
            source.resume()
            sources.append(source)
        }
    }

    private func handle() {
        lock.lock()
        count += 1
        let current = count
        lock.unlock()
        if current == 1 {
            Console.error(
                "\ninterrupting: no new tenants start, running statements are canceled and roll back "
                    + "(press Ctrl-C again to exit at once)")
            control.interrupt()
        } else {
            second()
            exit(130)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}
