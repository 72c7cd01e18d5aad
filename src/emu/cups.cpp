#include <ttig/emu/cups.hpp>
#include <ttig/emu/events.hpp>

#include <ttig/proto/blob.hpp>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <openssl/rand.h>

namespace ttig::emu {

namespace {

constexpr std::string_view cups_ns = "pkg/basicstation/cups";

tts_error cups_error(std::string_view name, int code, std::string_view message_format, nlohmann::json attributes = nlohmann::json::object()) {
    tts_error e;
    e.ns = std::string(cups_ns);
    e.name = std::string(name);
    e.code = code;
    e.message_format = std::string(message_format);
    e.attributes = std::move(attributes);
    return e;
}

tts_error err_parse() { return cups_error("parse", grpc_code::aborted, "request body parsing"); }
tts_error err_missing_router() { return cups_error("missing_router", grpc_code::invalid_argument, "missing router"); }
tts_error err_unauthenticated() { return cups_error("unauthenticated", grpc_code::unauthenticated, "call was not authenticated"); }
tts_error err_server_trust(std::string_view address) {
    return cups_error("server_trust", grpc_code::not_found, "fetch server trust for address `{address}`", {{"address", std::string(address)}});
}

// Go's json.Encoder escapes <, > and & inside strings (HTML-safe output), and U+2028/U+2029.
std::string go_html_escape(std::string s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else if (c == '\xE2' && i + 2 < s.size() && s[i + 1] == '\x80' && (s[i + 2] == '\xA8' || s[i + 2] == '\xA9')) {
            out += s[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
            i += 2;
        } else out += c;
    }
    return out;
}

// Status from the cause chain: the first code that is not Unknown (pkg/errors ToHTTPStatusCode).
int chain_http_status(const tts_error& e) {
    for (const tts_error* p = &e; p; p = p->cause.get())
        if (p->code != grpc_code::unknown) return http_status_for_grpc(p->code);
    return 500;
}

}  // namespace

std::string new_correlation_id() {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        static std::mt19937_64 rng{std::random_device{}()};
        for (auto& x : b) x = static_cast<unsigned char>(rng());
    }
    return proto::to_hex(proto::byte_view(b, sizeof b));
}

proto::http_response tts_error_response_indented(const tts_error& err, const std::string& correlation_id) {
    proto::http_response res;
    res.status = chain_http_status(err);
    res.headers.set("Content-Type", "application/json");
    res.body = go_html_escape(err.status_json(correlation_id).dump(1, '\t', false, nlohmann::json::error_handler_t::replace)) + "\n";
    return res;
}

cups_server::cups_server(tts_state& state, rate_limiter& limiter, cups_options options, trust_fetcher fetch_trust)
    : state_(state), limiter_(limiter), options_(std::move(options)), fetch_trust_(std::move(fetch_trust)) {
    corrupt_tc_cred_ = options_.corrupt_tc_cred;
}

void cups_server::clear_trust_cache() {
    std::lock_guard lock(trust_mu_);
    trust_cache_.clear();
}

tts_result<proto::bytes> cups_server::trust_for(std::string_view address) {
    if (address.empty()) {
        if (options_.static_trust) return *options_.static_trust;
        return err_server_trust(address).with_cause(cups_error("no_trust", grpc_code::internal, "no trusted certificate found"));
    }
    auto parsed = proto::tts_parse_address("https", address);
    if (!parsed) return err_server_trust(address);
    const std::string host_port = parsed->host_port();
    {
        std::lock_guard lock(trust_mu_);
        if (auto it = trust_cache_.find(host_port); it != trust_cache_.end()) return it->second;
    }
    auto trust = fetch_trust_ ? fetch_trust_(host_port) : proto::result<proto::bytes>(proto::error{});
    if (!trust) {
        tts_error e = err_server_trust(address);
        e.internal = trust.err().what();  // a plain Go error as cause: not serialized
        return e;
    }
    std::lock_guard lock(trust_mu_);
    trust_cache_[host_port] = *trust;
    return *trust;
}

tts_result<proto::update_info_response> cups_server::update_info(const proto::http_request& request) {
    auto decoded = proto::tts_decode_update_info_request(request.body);
    if (!decoded) {
        if (decoded.err().id() == "cups.missing_router") return err_missing_router();
        tts_error e = err_parse();
        if (decoded.err().id() == "cups.bad_router")
            // id6.EUI.UnmarshalJSON's own TTS error travels as the cause.
            e = std::move(e).with_cause(tts_error{"pkg/gatewayserver/io/semtechws/id6", "format", "invalid format", grpc_code::invalid_argument,
                                                  nlohmann::json::object(), nullptr, {}});
        e.internal = decoded.err().what();
        return e;
    }
    const proto::update_info_request& req = *decoded;

    auto gw_found = state_.find_gateway_by_eui(req.router);
    if (!gw_found)
        return tts_error::make("pkg/identityserver/store:gateway_not_found_by_eui", {{"gateway_eui", req.router.hex()}});
    const std::string gateway_id = gw_found->id();

    std::optional<std::string> auth;
    if (auto h = request.headers.get("Authorization"); h && !h->empty()) {
        auth = std::string(*h);
        if (!auth->starts_with("Bearer ")) *auth = "Bearer " + *auth;
    }
    auto granted = state_.authorize_gateway(auth, gateway_id, rights{right::gateway_info, right::gateway_settings_basic, right::gateway_read_secrets});
    if (!granted) return err_unauthenticated().with_cause(granted.err());

    auto gw = state_.get_gateway(gateway_id);
    if (!gw) return std::move(gw).err();

    proto::update_info_response res;
    const std::string target_uri = gw->target_cups_uri();
    const auto target_key = gw->target_cups_key();
    if (options_.allow_cups_uri_update && !target_uri.empty() && target_uri != req.cups_uri.value_or("")) {
        // Branch A: move the station to another CUPS server.
        if (!target_key) return cups_error("target_cups_credentials_not_found", grpc_code::not_found, "Target CUPS credentials not found for gateway `{gateway_uid}`");
        res.cups_uri = target_uri;
        auto trust = trust_for(target_uri);
        if (!trust) return std::move(trust).err();
        auto blob = proto::tts_token_blob(*trust, *target_key);
        if (proto::crc32(blob) != req.cups_cred_crc) res.cups_cred = std::move(blob);
    } else if (target_key) {
        // Branch B: CUPS key rotation; no LNS settings while target_cups_key is set.
        auto trust = trust_for(req.cups_uri.value_or(""));
        if (!trust) return std::move(trust).err();
        auto blob = proto::tts_token_blob(*trust, *target_key);
        if (proto::crc32(blob) != req.cups_cred_crc) res.cups_cred = std::move(blob);
    } else {
        // Branch C: LNS URI and credentials.
        const auto secret = gw->lbs_lns_secret();
        if (!secret)
            return cups_error("lns_credentials_not_found", grpc_code::not_found, "LNS credentials not found for gateway `{gateway_uid}`",
                              {{"gateway_uid", gateway_id}});
        std::string address = gw->gateway_server_address();
        if (address.empty()) address = !req.tc_uri.value_or("").empty() ? *req.tc_uri : options_.default_lns_uri;
        auto parsed = proto::tts_parse_address("wss", address);
        if (!parsed) {
            tts_error e{"pkg/errors", "unknown", parsed.err().detail, grpc_code::unknown, nlohmann::json::object(), nullptr, parsed.err().what()};
            return e;
        }
        const std::string lns_uri = parsed->uri();
        if (lns_uri != req.tc_uri.value_or("")) res.tc_uri = lns_uri;
        if (parsed->scheme == "wss") {
            auto trust = trust_for(address);
            if (!trust) return std::move(trust).err();
            auto blob = proto::tts_token_blob(*trust, *secret);
            if (corrupt_tc_cred_ && blob.size() > 4 && blob[0] == 0x30 && blob[1] == 0x82) blob[2] = blob[3] = 0xFF;  // fault
            if (proto::crc32(blob) != req.tc_cred_crc) res.tc_cred = std::move(blob);
        }
    }

    // Firmware updates: TTS v3.32.1 has no update source, so sig/update stay empty.
    std::map<std::string, std::string> attrs;
    const auto now = std::chrono::time_point_cast<std::chrono::seconds>(state_.clock().now());
    attrs["cups-last-seen"] = fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", now);  // Go time.RFC3339, UTC
    if (!req.station.empty()) attrs["cups-station"] = req.station;
    if (!req.model.empty()) attrs["cups-model"] = req.model;
    if (req.package && !req.package->empty()) attrs["cups-package"] = *req.package;
    if (auto updated = state_.set_attributes(gateway_id, attrs, true); !updated) return std::move(updated).err();
    {
        // The CUPS server updates the registry (UpdateGateway, mask ["attributes"]) with the
        // gateway's credentials: the Identity Server publishes gateway.update.
        event e;
        e.name = "gateway.update";
        e.gateway(gateway_id, req.router);
        e.cluster = state_.home_cluster().name;
        e.correlation_ids.push_back(fmt::format("rpc:/ttn.lorawan.v3.GatewayRegistry/Update:{}", state_.events().new_id()));
        e.with_authorization(auth);
        e.remote_ip = request.remote_address.substr(0, request.remote_address.rfind(':'));
        if (auto ua = request.headers.get("User-Agent")) e.user_agent = std::string(*ua);
        e.with_value(nlohmann::ordered_json::array({"attributes"}));
        state_.events().publish(std::move(e));
    }
    return res;
}

proto::http_response cups_server::handle(const proto::http_request& request) {
    const std::string correlation_id = new_correlation_id();
    // Rate limit first (ratelimit.HTTPMiddleware, class http:gcs:cups): keyed by the token ID
    // when an API key is presented, else by the remote IP.
    std::string token_id;
    if (auto h = request.headers.get("Authorization")) {
        std::string_view v = *h;
        if (v.starts_with("Bearer ")) v.remove_prefix(7);
        if (auto parts = split_token(v)) token_id = parts->id;
    }
    std::string ip = request.remote_address.substr(0, request.remote_address.rfind(':'));
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    const rate_resource resource = http_resource("http:gcs:cups", "/update-info", token_id, ip, "/update-info");
    std::optional<rate_result> limited = limiter_.take(resource);
    if (limited && limited->limited) {
        auto res = tts_error_response_indented(
            tts_error::make("pkg/ratelimit:rate_limit_exceeded", {{"key", resource.key}, {"rate", limited->limit}}), correlation_id);
        limited->apply_headers(res.headers);
        return res;
    }
    if (request.method != "POST") {
        proto::http_response res;
        res.status = 405;
        if (limited) limited->apply_headers(res.headers);
        return res;
    }
    auto result = update_info(request);
    proto::http_response res;
    if (!result) {
        res = tts_error_response_indented(result.err(), correlation_id);
    } else {
        auto bytes = proto::encode_update_info_response(*result, proto::cups_dialect::tts);
        if (!bytes) {
            res = tts_error_response_indented(cups_error("field_length", grpc_code::unknown, "length of `{field}` (`{length}`) exceeds maximum `{maximum}`"),
                                              correlation_id);
        } else {
            res.status = 200;
            res.headers.set("Content-Type", "application/octet-stream");
            res.body.assign(bytes->begin(), bytes->end());
        }
    }
    if (limited) limited->apply_headers(res.headers);
    return res;
}

}  // namespace ttig::emu
