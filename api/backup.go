package api

// Backup and restore (shoal backup, shoal restore; docs/backup.md).
const (
	// BackupPath serves a backup of the cluster's state (GET).
	BackupPath = "/shoal/v1/backup"
	// RestorePath seeds the cluster from a backup file (POST).
	RestorePath = "/shoal/v1/restore"
	// BackupContentType is the media type of a backup file.
	BackupContentType = "application/vnd.shoal.backup"
	// BackupPassphraseHeader carries the passphrase that protects the
	// Secrets and tokens inside a backup file.
	BackupPassphraseHeader = "Shoal-Backup-Passphrase"
	// BackupFormat is the file format this build writes and reads.
	BackupFormat = 1
	// MinBackupPassphrase is the shortest passphrase accepted.
	MinBackupPassphrase = 12
)

// BackupHeader is the first line of a backup file (JSON): what the file
// holds and how to check and read it. The records follow it.
type BackupHeader struct {
	TypeMeta `json:",inline"`
	// Format is the file's format (BackupFormat).
	Format int `json:"format"`
	// Cluster identifies the cluster backed up: the SHA-256 fingerprint of
	// its CA certificate.
	Cluster string `json:"cluster"`
	// Agent is the agent that took the snapshot, Version its build.
	Agent   string `json:"agent"`
	Version string `json:"version,omitempty"`
	Created Time   `json:"created"`
	// RecordFormat is the format of the records in the file.
	RecordFormat int `json:"recordFormat"`
	// Records is how many records follow; Counts splits the objects among
	// them by resource (spec records only).
	Records int            `json:"records"`
	Counts  map[string]int `json:"counts"`
	// BodyBytes is the length of what follows the header, SHA256 its hex
	// digest.
	BodyBytes int64  `json:"bodyBytes"`
	SHA256    string `json:"sha256"`
	// Encryption says how the sensitive values (Secrets, tokens) are sealed.
	Encryption BackupEncryption `json:"encryption"`
}

// BackupEncryption describes the sealing of a backup's sensitive values:
// AES-256-GCM under a key derived from the passphrase, the record's key as
// additional data.
type BackupEncryption struct {
	Cipher     string `json:"cipher"`
	KDF        string `json:"kdf"`
	Iterations int    `json:"iterations"`
	Salt       []byte `json:"salt"`
	// Check is a known text sealed with the key: a wrong passphrase is
	// told apart before anything is restored.
	Check []byte `json:"check"`
	// Sealed is how many values are sealed.
	Sealed int `json:"sealed"`
}

// RestoreResult is the answer of a restore: what was written, what was
// left out and why.
type RestoreResult struct {
	TypeMeta `json:",inline"`
	// Cluster and Created are the backup's.
	Cluster string `json:"cluster"`
	Created Time   `json:"created"`
	// Restored counts the objects written, by resource.
	Restored map[string]int `json:"restored"`
	// Skipped counts the records left out, by reason.
	Skipped map[string]int `json:"skipped"`
}
