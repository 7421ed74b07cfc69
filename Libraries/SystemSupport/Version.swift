/// The release every binary reports with `--version`.
public enum Provisioner {
    public static let version = "0.1.0"
}
