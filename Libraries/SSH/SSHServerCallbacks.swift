import CSSH
import SystemSupport

// libssh's server callbacks, as global constants (not in main.swift: there
// Swift 6 would add main-actor checks that trap on libssh's thread). They all
// run on the connection's thread, inside ssh_event_dopoll or
// ssh_handle_key_exchange; `userdata` is the unretained connection or channel.

private func connection(_ userdata: UnsafeMutableRawPointer?) -> SSHServerConnection {
    Unmanaged<SSHServerConnection>.fromOpaque(userdata!).takeUnretainedValue()
}

private func serverChannel(_ userdata: UnsafeMutableRawPointer?) -> SSHServerChannel {
    Unmanaged<SSHServerChannel>.fromOpaque(userdata!).takeUnretainedValue()
}

/// A key offered (state NONE: answer "yes, sign with it" for an allowed key)
/// or signed (state VALID: libssh checked the signature). Nothing else passes.
let sshAuthPublicKeyCallback: ssh_auth_pubkey_callback = { _, user, key, signatureState, userdata in
    let connection = connection(userdata)
    connection.authenticationAttempts += 1
    guard let key, let handler = connection.handler, let presented = SSHPublicKey.copying(key) else {
        return Int32(SSH_AUTH_DENIED.rawValue)
    }
    let userName = user.map { String(cString: $0) } ?? ""
    let state = Int32(signatureState)
    guard state == SSH_PUBLICKEY_STATE_NONE.rawValue || state == SSH_PUBLICKEY_STATE_VALID.rawValue else {
        handler.log(.warning, "ssh: \(connection.peer): bad signature for \(presented.type) key \(presented.fingerprint)")
        return Int32(SSH_AUTH_DENIED.rawValue)
    }
    guard handler.authenticate(user: userName, key: presented, peer: connection.peer) else {
        if state == SSH_PUBLICKEY_STATE_NONE.rawValue {
            handler.log(.info, "ssh: \(connection.peer): refused \(presented.type) key \(presented.fingerprint) (not listed)")
        }
        return Int32(SSH_AUTH_DENIED.rawValue)
    }
    if state == SSH_PUBLICKEY_STATE_VALID.rawValue {
        connection.authenticated = (userName, presented)
        handler.log(.debug, "ssh: \(connection.peer): authenticated with \(presented.type) key \(presented.fingerprint)")
    }
    return Int32(SSH_AUTH_SUCCESS.rawValue)
}

let sshChannelOpenCallback: ssh_channel_open_request_session_callback = { _, userdata in
    let connection = connection(userdata)
    guard connection.authenticated != nil, let channel = SSHServerChannel(connection: connection) else { return nil }
    connection.channels.append(channel)
    return channel.channel
}

let sshWakeupCallback: ssh_event_callback = { _, _, userdata in
    if let userdata { Unmanaged<WakeupPipe>.fromOpaque(userdata).takeUnretainedValue().drain() }
    return 0
}

let sshChannelDataCallback: ssh_channel_data_callback = { _, _, data, length, _, userdata in
    let channel = serverChannel(userdata)
    guard let data, length > 0, let io = channel.io else { return Int32(length) }
    // What the program has no room for stays in libssh's buffer, which holds
    // the client's window shut until `pump` moves it on.
    let taken = io.receive(UnsafeRawBufferPointer(start: data, count: Int(length)))
    if taken < Int(length) { channel.inputBacklog = true }
    return Int32(taken)
}

let sshChannelEOFCallback: ssh_channel_eof_callback = { _, _, userdata in
    let channel = serverChannel(userdata)
    channel.remoteEOF = true
    if !channel.inputBacklog { channel.io?.endInput() }
}

let sshChannelCloseCallback: ssh_channel_close_callback = { _, _, userdata in
    let channel = serverChannel(userdata)
    channel.peerClosed = true
    channel.io?.markClosed()
}

let sshChannelPTYCallback: ssh_channel_pty_request_callback = { _, _, term, width, height, _, _, userdata in
    let channel = serverChannel(userdata)
    guard channel.io == nil else { return -1 }
    channel.terminal = SSHTerminal(term: term.map { String(cString: $0) } ?? "dumb",
                                   columns: Int(width), rows: Int(height))
    return 0
}

let sshChannelWindowChangeCallback: ssh_channel_pty_window_change_callback = { _, _, width, height, _, _, userdata in
    let channel = serverChannel(userdata)
    channel.terminal?.columns = Int(width)
    channel.terminal?.rows = Int(height)
    channel.io?.resize(columns: Int(width), rows: Int(height))
    return 0
}

let sshChannelShellCallback: ssh_channel_shell_request_callback = { _, _, userdata in
    serverChannel(userdata).startProgram(command: nil) ? 0 : -1
}

let sshChannelExecCallback: ssh_channel_exec_request_callback = { _, _, command, userdata in
    serverChannel(userdata).startProgram(command: command.map { String(cString: $0) } ?? "") ? 0 : -1
}

let sshChannelSubsystemCallback: ssh_channel_subsystem_request_callback = { _, _, name, userdata in
    guard let name else { return -1 }
    return serverChannel(userdata).startProgram(command: nil, subsystem: String(cString: name)) ? 0 : -1
}

let sshChannelEnvCallback: ssh_channel_env_request_callback = { _, _, name, value, userdata in
    let channel = serverChannel(userdata)
    guard let name, let value, channel.io == nil, channel.environment.count < SSHServerChannel.maxEnvironment else { return -1 }
    channel.environment[String(cString: name)] = String(cString: value)
    return 0
}

/// Requests libssh has no callback for: direct-tcpip channel opens (`ssh -W`,
/// `ssh -J`), asked of the handler; and breaks. libssh 0.10 parses a channel request
/// it does not know into SSH_CHANNEL_REQUEST_UNKNOWN without its name; of
/// those, an OpenSSH client sends only "break" (`~B`) during a session, so
/// one on a program's channel is taken as a break. Anything else gets
/// libssh's default answer.
let sshMessageCallback: ssh_message_callback = { _, message, userdata in
    guard let message else { return 1 }
    if ssh_message_type(message) == Int32(SSH_REQUEST_CHANNEL_OPEN.rawValue),
       ssh_message_subtype(message) == Int32(SSH_CHANNEL_DIRECT_TCPIP.rawValue) {
        return openTunnel(message, connection(userdata))
    }
    guard ssh_message_type(message) == Int32(SSH_REQUEST_CHANNEL.rawValue),
          ssh_message_subtype(message) == Int32(SSH_CHANNEL_REQUEST_UNKNOWN.rawValue),
          let target = ssh_message_channel_request_channel(message) else { return 1 }
    let connection = connection(userdata)
    guard let channel = connection.channels.first(where: { $0.channel == target }), let io = channel.io else { return 1 }
    if io.receiveBreak() {
        ssh_message_channel_request_reply_success(message)
    } else {
        ssh_message_reply_default(message)
    }
    return 0
}

/// A direct-tcpip open: accepted only after authentication and when the
/// handler takes it; anything else gets libssh's refusal.
private func openTunnel(_ message: ssh_message, _ connection: SSHServerConnection) -> Int32 {
    guard let handler = connection.handler, let identity = connection.authenticated,
          let destination = ssh_message_channel_request_open_destination(message) else { return 1 }
    let request = SSHTunnelRequest(user: identity.user, key: identity.key, peer: connection.peer,
                                   host: String(cString: destination),
                                   port: Int(ssh_message_channel_request_open_destination_port(message)))
    guard let start = handler.tunnel(request), let channel = SSHServerChannel(connection: connection) else { return 1 }
    guard ssh_message_channel_request_open_reply_accept_channel(message, channel.channel) == SSH_OK else {
        channel.release()
        return 0
    }
    connection.channels.append(channel)
    channel.startTunnel(start)
    return 0
}
