// The Things Stack's events stream (POST /api/v3/events, tts-api.md §4.11) as values: the request,
// the events, and the reading of a stream for a bounded window (tts::client::read_events).
//
// The stream is chunked; each message is {"result": <Event>} or, mid-stream, {"error": <Status>},
// followed by "\n" ("\n\n" with Accept: text/event-stream). The first message is the synthetic
// events.stream.start, whose data lists the resolved names. The server sends no keep-alives, so a
// reader decides when to stop: read_events stops at the window's end, after max_events events, or
// when the server ends the stream. Registry events (gateway.*) come from the Identity Server's host,
// gs.* events from the host of the gateway's cluster (§1.1): read each host for both.
#pragma once

#include <ttig/proto/error.hpp>
#include <ttig/tts/calls.hpp>
#include <ttig/tts/error.hpp>
#include <ttig/tts/models.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::tts {

// ttn.lorawan.v3.Event.
struct event {
    std::string name;                       // "gs.gateway.connect"
    std::optional<time_point> time;
    std::vector<std::string> gateway_ids;   // from identifiers[].gateway_ids.gateway_id
    nlohmann::json identifiers;             // as received (array)
    nlohmann::json data;                    // Any with "@type", or null
    std::string data_type;                  // "@type" without "type.googleapis.com/": "ttn.lorawan.v3.ErrorDetails"
    std::vector<std::string> correlation_ids;
    std::string origin;
    std::vector<std::string> visibility;    // visibility.rights
    std::string remote_ip;
    std::string unique_id;
    nlohmann::json raw;                     // the whole Event object

    // data.value of a google.protobuf.Value (gateway.update: the updated paths), else null.
    const nlohmann::json& value() const;
};
// Reads an Event object (throws nlohmann::json exceptions on wrong types).
event event_from_json(const nlohmann::json& j);

struct events_request {
    std::vector<std::string> gateway_ids;  // at least one (else tts.bad_argument)
    std::vector<std::string> names;        // exact names or "/regex/"; empty: every event
    std::uint32_t tail = 0;                // replay up to N stored events first
    std::optional<time_point> after;       // replay stored events after this time
    std::string base_url;                  // empty: the client's (Identity Server); a cluster for gs.* events
    bool event_stream_framing = false;     // Accept: text/event-stream ("\n\n" between messages)
};

struct events_read {
    std::vector<std::string> names;        // the resolved names of the start event (empty: every event)
    std::optional<event> start;            // events.stream.start
    std::vector<event> events;             // in arrival order, without the start event
    bool window_expired = false;           // reading ended at the window's end
    bool ended = false;                    // the server ended the stream (or closed the connection)
    bool limit_reached = false;            // max_events events arrived
    std::size_t bad_messages = 0;          // messages that were not JSON events (skipped)
    std::shared_ptr<const api_error> stream_error;  // an {"error": …} message mid-stream
};

// Splits a stream body into messages and decodes them into `out` (start event, events, errors).
// Returns the bytes of an unfinished last message (to be completed by the next piece).
std::string decode_event_messages(std::string_view body, events_read& out);

namespace calls {
// POST /api/v3/events {"identifiers":[{"gateway_ids":{"gateway_id":…}}…],"names":[…],"tail":N,"after":"…"}.
// The decoder is not used (streams are read by client::read_events).
request_head stream_events(const events_request& request);
}  // namespace calls

}  // namespace ttig::tts
