#include <ttig/emu/factory_cups.hpp>

#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>

#include <fmt/format.h>

namespace ttig::emu {

namespace {

proto::http_response text(int status, std::string body) {
    proto::http_response r;
    r.status = status;
    r.headers.set("Content-Type", "text/plain; charset=utf-8");
    r.body = std::move(body) + "\n";
    return r;
}

}  // namespace

factory_cups::factory_cups(tts_state& state, factory_target_for target) : state_(state), target_(std::move(target)) {}

proto::http_response factory_cups::handle(const proto::http_request& request) const {
    if (request.method != "POST") return text(405, "method not allowed");
    // The station's body; TTS's decoder reads it the way any CUPS server must (router as ID6 or EUI).
    auto req = proto::tts_decode_update_info_request(request.body);
    if (!req) return text(400, fmt::format("bad update-info request: {}", req.err().what()));
    const auto claim = state_.claimable(req->router);
    if (!claim || claim->state != claimable_gateway::upstream_state::claimed_here || claim->cups_key.empty())
        return text(404, fmt::format("router {} is not claimed", req->router.hex()));
    const factory_target t = target_(state_.find_gateway_by_eui(req->router));
    proto::update_info_response res;
    res.cups_uri = t.cups_uri;
    res.cups_cred = proto::tts_token_blob(t.trust_der, claim->cups_key);
    auto body = proto::encode_update_info_response(res, proto::cups_dialect::station);
    if (!body) return text(500, body.err().what());
    proto::http_response r;
    r.status = 200;
    r.headers.set("Content-Type", "application/octet-stream");
    r.body.assign(body->begin(), body->end());
    return r;
}

}  // namespace ttig::emu
