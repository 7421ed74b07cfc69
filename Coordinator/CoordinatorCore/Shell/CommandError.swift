import ShellSupport

/// The coordinator's commands report errors as the agent's do.
public typealias CommandError = ShellError
