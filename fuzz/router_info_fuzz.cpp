// Discovery on arbitrary bytes: the input is read as a request (TTS rules) and as a reply
// (station rules), and used as a Host header.
// Properties: a request TTS accepts re-encodes (station form) to a request TTS reads as the same
// EUI and prefix, and TTS's success reply to it is accepted by the station; a reply the station
// accepts re-encodes (TTS form) to one it reads identically.
#include <ttig/proto/lns.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace ttig::proto;
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto req = decode_router_info_request(text)) {
        auto again = decode_router_info_request(encode_router_info_request(*req));
        if (!again || !(*again == *req)) __builtin_trap();
        const auto reply = tts_router_info_response(*req, tts_traffic_uri("wss", "lns.example.com:8887", req->eui));
        auto seen = decode_router_info_response(encode_router_info_response(reply));
        if (!seen || !(*seen == reply)) __builtin_trap();
    }

    if (auto resp = decode_router_info_response(text)) {
        auto again = decode_router_info_response(encode_router_info_response(*resp));
        if (!again || !(*again == *resp)) __builtin_trap();
    }

    (void)tts_traffic_uri(size % 2 ? "wss" : "ws", text, eui64{size});
    return 0;
}
