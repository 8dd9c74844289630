// Package backup writes a snapshot of an agent's store to a backup file
// and seeds a new cluster from one (shoal backup, shoal restore).
//
// A file is a JSON header line (api.BackupHeader: format, cluster, time,
// record counts, SHA-256 of the body) followed by the records, each a
// length and a gossip record as the store encodes it. The values of
// sensitive records (Secrets, tokens) are sealed with AES-256-GCM under a
// key derived from a passphrase the administrator chooses: the file never
// holds them in clear, and does not carry the cluster's own keys, which a
// restored cluster replaces. docs/backup.md says what is restored and why.
package backup
