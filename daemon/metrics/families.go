package metrics

// Families are every family docs/metrics.md lists: the package's tests and
// the agent's integration test check that each is served, and the docs
// test that each is documented.
var Families = []string{
	"shoal_api_requests_total", "shoal_api_request_duration_seconds",
	"shoal_store_records", "shoal_store_writes_total", "shoal_store_persist_duration_seconds", "shoal_store_persist_errors_total",
	"shoal_gossip_members", "shoal_gossip_messages_received_total", "shoal_gossip_messages_sent_total",
	"shoal_gossip_messages_dropped_total", "shoal_gossip_bytes_received_total", "shoal_gossip_bytes_sent_total",
	"shoal_gossip_anti_entropy_rounds_total", "shoal_gossip_records_repaired_total", "shoal_gossip_records_refused_total",
	"shoal_pod_starts_total", "shoal_pod_start_duration_seconds", "shoal_pod_start_step_duration_seconds", "shoal_container_restarts_total",
	"shoal_engine_request_duration_seconds", "shoal_engine_errors_total",
	"shoal_workqueue_depth", "shoal_controller_sync_duration_seconds", "shoal_controller_sync_errors_total",
	"shoal_scheduler_attempts_total", "shoal_scheduler_attempt_duration_seconds",
	"shoal_dns_queries_total", "shoal_dns_request_duration_seconds",
	"shoal_proxy_sync_duration_seconds", "shoal_proxy_change_to_rules_seconds", "shoal_proxy_sync_errors_total", "shoal_proxy_rules", "shoal_proxy_chains", "shoal_proxy_service_ports",
	"shoal_ingress_requests_total", "shoal_ingress_upstream_errors_total",
	"go_goroutines", "process_resident_memory_bytes",
}
