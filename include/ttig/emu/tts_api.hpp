// The emulated The Things Stack's HTTP API (/api/v3), sans-io: a request value in, a response
// value plus a directive for the network driver out.
//
// Routes (tts-api.md §4.0) and the RPC names used for faults and rate limiting:
//   GET    /api/v3/auth_info                                  EntityAccess.AuthInfo
//   GET    /api/v3/gateways/{id}                              GatewayRegistry.Get
//   GET    /api/v3/gateways | /users/{u}/gateways | /organizations/{o}/gateways, POST /gateways/filter
//                                                             GatewayRegistry.List
//   GET    /api/v3/search/gateways                            EntityRegistrySearch.SearchGateways
//   POST   /api/v3/users/{u}/gateways | /organizations/{o}/gateways   GatewayRegistry.Create
//   PUT    /api/v3/gateways/{id}                              GatewayRegistry.Update
//   DELETE /api/v3/gateways/{id}, POST …/restore, DELETE …/purge      GatewayRegistry.Delete/Restore/Purge
//   GET    /api/v3/gateways/{id}/rights                       GatewayAccess.ListRights
//   POST|GET /api/v3/gateways/{id}/api-keys, GET|PUT|DELETE …/api-keys/{key_id}
//                                                             GatewayAccess.CreateAPIKey/ListAPIKeys/GetAPIKey/UpdateAPIKey/DeleteAPIKey
//   POST   /api/v3/gcls/claim/info, POST /gcls/claim, DELETE /gcls/claim/{id}
//                                                             GatewayClaimingServer.GetInfoByGatewayEUI/Claim/Unclaim
//   GET    /api/v3/gs/gateways/{id}/connection/stats          Gs.GetGatewayConnectionStats
//   POST   /api/v3/gs/gateways/connection/stats               Gs.BatchGetGatewayConnectionStats
//   GET    /api/v3/configuration/frequency-plans              Configuration.ListFrequencyPlans
//   POST   /api/v3/events                                     Events.Stream (server streaming, §4.11)
// Not emulated: collaborator routes, OAuth.
//
// Events.Stream answers with action::stream: the driver sends `response` (status and headers) as a
// chunked response. When `events` is set it writes the start event, subscribes to the state's
// event bus and writes every event until the client goes away; otherwise (a stream error raised
// before the first message: rate limit, validation, no_identifiers, names, rights) it writes
// `response.body` ({"error": <Status>} and the delimiter, grpc-gateway's errorChunk) and ends.
// Registry changes made through this API publish gateway.* events (gateway.update data: the
// cleaned field mask paths, as updateGateway publishes them).
//
// Every request runs as a TTS request does: route -> faults -> JSON decoding -> request
// validation (field masks, field rules) -> rate limiting -> authentication -> rights -> the
// operation. Errors are TTS's JSON bodies and statuses (§5); 401 answers carry WWW-Authenticate.
#pragma once

#include <ttig/emu/error.hpp>
#include <ttig/emu/events.hpp>
#include <ttig/emu/rate_limit.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/http.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

// What the network driver does with a handled request.
struct api_result {
    enum class action {
        respond,    // wait `delay`, then send `response`
        reset,      // wait `delay`, then reset the connection (TCP RST) without answering
        blackhole,  // read the request and never answer (until the client gives up)
        stream,     // a chunked response (Events.Stream), see above
    };
    proto::http_response response;
    std::chrono::milliseconds delay{0};
    action act = action::respond;
    std::string rpc;  // the matched RPC ("GatewayRegistry.Get"), empty for an unknown route
    std::shared_ptr<const event_stream> events;  // action::stream: the subscription to serve (null: body, then end)
};

// A fault injected on matching requests. A rule matches when every non-empty selector matches.
struct fault_rule {
    std::string rpc;          // "GatewayRegistry.Get", "Gs.GetGatewayConnectionStats", or "*" / empty for all
    std::string method;       // HTTP method, empty: any
    std::string path_prefix;  // e.g. "/api/v3/gs/", empty: any
    std::chrono::milliseconds delay{0};  // added latency (also before errors and resets)
    double blackhole_ratio = 0;          // probability of never answering
    double reset_ratio = 0;              // probability of a connection reset
    double error_ratio = 0;              // probability of answering `error` instead
    double lost_answer_ratio = 0;        // probability of carrying the request out, then resetting the
                                         // connection instead of answering (the client cannot know it happened)
    tts_error error = tts_error::make("pkg/util/store:database_unavailable");
};

struct api_options {
    std::uint64_t seed = 1;  // fault decisions and correlation IDs (deterministic per seed)
};

class tts_api {
public:
    explicit tts_api(tts_state& state, api_options options = {});

    // Handles one request. `cluster` names the cluster whose host received it (Gateway Server
    // routes answer only for gateways connected to that cluster); empty: the cluster whose address
    // matches the Host header, else the home cluster.
    api_result handle(const proto::http_request& request, std::string_view cluster = {});

    void set_faults(std::vector<fault_rule> rules);
    std::vector<fault_rule> faults() const;
    void set_rate_limits(std::vector<rate_profile> profiles);
    std::vector<rate_profile> rate_limits() const;
    void reseed(std::uint64_t seed);

    tts_state& state() noexcept { return *state_; }

private:
    struct call;
    tts_state* state_;
    mutable std::mutex mu_;
    std::mt19937_64 rng_;
    std::vector<fault_rule> faults_;
    rate_limiter limiter_;
};

// The full gRPC method of an RPC short name: "GatewayRegistry.Get" -> "/ttn.lorawan.v3.GatewayRegistry/Get".
std::string full_method(std::string_view rpc);

}  // namespace ttig::emu
