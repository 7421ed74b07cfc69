import ArgumentParser
import SystemSupport

@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner-coordinator",
        abstract: "The Provisioner coordinator: the lab's SSH front door, reservations and routing to agents.",
        discussion: "Not yet serving: see the coordinator issue.",
        version: Provisioner.version)
}
