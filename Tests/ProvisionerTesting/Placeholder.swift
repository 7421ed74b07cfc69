public enum ProvisionerTesting {}
