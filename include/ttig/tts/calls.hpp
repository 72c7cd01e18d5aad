// Typed calls of The Things Stack's HTTP API as values: the HTTP request to send plus the decoder
// of a 2xx answer (tts-api.md §4). Building a call does no I/O; tts::client runs it (blocking
// run() or async_run()). Tests can check a call's request without a server.
//
// Every builder percent-encodes path segments and query values. An argument that cannot be sent
// (an empty ID, which would change the route; more than 100 IDs in one batch) makes a call whose
// head.invalid is set: the client returns that tts.bad_argument error without sending anything.
#pragma once

#include <ttig/proto/error.hpp>
#include <ttig/proto/http.hpp>
#include <ttig/tts/models.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ttig::tts {

// What the client sends, and where.
struct request_head {
    std::string rpc;       // "GatewayRegistry.Get" (logs; rate-limit bucket)
    std::string entity;    // "gateway:<id>", or "" when the request names no single entity (rate-limit bucket)
    std::string base_url;  // empty: the client's base URL (Identity Server); Gateway Server calls may name a cluster
    proto::http_request http;  // method, target "/api/v3/…", body; the client adds Authorization, Accept, Content-Type
    std::optional<proto::error> invalid;  // set: refused before sending
    std::optional<std::chrono::milliseconds> deadline;  // this request's deadline; unset: client_options::deadline
};

template <class T>
using decoder = std::function<proto::result<T>(const proto::http_response&)>;

template <class T>
struct call {
    request_head head;
    decoder<T> decode;  // runs on 2xx answers only
};

// Where a gateway list comes from (tts-api.md §4.2).
struct list_scope {
    enum class kind { caller, user, organization };
    kind type = kind::caller;
    std::string id;

    static list_scope caller() { return {}; }  // GET /gateways: direct and indirect (via organizations)
    static list_scope user(std::string id) { return {kind::user, std::move(id)}; }
    static list_scope organization(std::string id) { return {kind::organization, std::move(id)}; }
};

struct list_options {
    std::vector<std::string> field_mask;
    std::uint32_t limit = 100;  // ≤ 1000; always sent (0 would mean "no limit" in v3.32.1)
    std::uint32_t page = 1;     // 1-based
    std::string order;          // "gateway_id", "-created_at", …; empty: server default
    bool deleted = false;       // only soft-deleted gateways
};

// How delete_api_key deletes. The brief for ttigctl asks for the update form, which TTS v3.32.1
// implements as a delete (updateGatewayAPIKey: empty rights + "rights" in the mask; marked for
// removal upstream, issue 6488); DELETE …/api-keys/{id} is the dedicated route.
enum class api_key_delete { update_empty_rights, delete_route };

inline constexpr std::size_t batch_stats_max_ids = 100;

namespace calls {

call<auth_info> get_auth_info();

call<gateway> get_gateway(const std::string& gateway_id, const std::vector<std::string>& field_mask);
call<page<gateway>> list_gateways(const list_scope& scope, const list_options& options);
// GET /search/gateways?eui_contains=<EUI>: a full EUI matches exactly; only gateways the caller
// has rights on are visible.
call<page<gateway>> search_gateways_by_eui(proto::eui64 eui, const list_options& options);
call<gateway> create_gateway(const account_ids& owner, const gateway& g);
call<gateway> update_gateway(const std::string& gateway_id, const gateway_update& update);
call<void> delete_gateway(const std::string& gateway_id);
call<void> restore_gateway(const std::string& gateway_id);
call<void> purge_gateway(const std::string& gateway_id);
call<std::vector<std::string>> list_gateway_rights(const std::string& gateway_id);

call<api_key> create_api_key(const std::string& gateway_id, const std::string& name, const std::vector<std::string>& rights,
                             std::optional<time_point> expires_at = std::nullopt);
call<page<api_key>> list_api_keys(const std::string& gateway_id, std::uint32_t limit = 100, std::uint32_t page = 1,
                                  const std::string& order = {});
call<api_key> get_api_key(const std::string& gateway_id, const std::string& key_id);
// An empty field mask would be read by TTS as ["rights","name"]; an update that names nothing is
// refused here (tts.bad_argument). Rights set to an empty list delete the key (answer: {}): use
// delete_api_key for that.
call<api_key> update_api_key(const std::string& gateway_id, const std::string& key_id, const api_key_update& update);
call<void> delete_api_key(const std::string& gateway_id, const std::string& key_id,
                          api_key_delete how = api_key_delete::update_empty_rights);

call<claim_info> get_claim_info(proto::eui64 eui);
call<claim_result> claim_gateway(const claim_request& request);
call<void> unclaim_gateway(const std::string& gateway_id);

// base_url: the gateway's cluster (see cluster_base_url); empty: the client's.
call<connection_stats> get_connection_stats(const std::string& gateway_id, const std::string& base_url = {});
// One batch of 1…100 IDs (else tts.bad_argument). Gateways without stats are absent from the map.
call<std::map<std::string, connection_stats>> batch_connection_stats(std::span<const std::string> gateway_ids,
                                                                     const std::vector<std::string>& field_mask = {},
                                                                     const std::string& base_url = {});

call<std::vector<frequency_plan>> list_frequency_plans(const std::string& band_id = {}, std::uint32_t base_frequency = 0,
                                                       bool gateways_only = true);

}  // namespace calls

// "https://<host>[:port]" of a cluster from a gateway_server_address ("eu1.cloud.thethings.network",
// "wss://nam1.cloud.thethings.network:8887"): scheme and port stripped (tts-api.md §1.1), port
// added unless 443. Empty when the address is empty.
std::string cluster_base_url(std::string_view gateway_server_address, std::uint16_t https_port = 443);

}  // namespace ttig::tts
