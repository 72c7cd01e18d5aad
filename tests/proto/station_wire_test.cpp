// The station's own wire bytes against the captures of a real Basics Station v2.0.6
// (basicstation-protocol §6.1, TV-S1..TV-S3), and its bounded readers.
#include <doctest/doctest.h>

#include <ttig/proto/cups.hpp>
#include <ttig/proto/lns.hpp>
#include <ttig/proto/station_wire.hpp>

#include <string>

using namespace ttig;

namespace {

std::string unhex(std::string_view hex) {
    std::string out;
    int hi = -1;
    for (char c : hex) {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            out += static_cast<char>(hi * 16 + v);
            hi = -1;
        }
    }
    return out;
}

}  // namespace

TEST_SUITE("proto") {
    TEST_CASE("TV-S1: the update-info request of a real station, byte for byte") {
        // The body is the captured one; its CRCs are the capture's (PEM trust 595 B + key, no tc.*).
        const std::string body =
            R"({"router":"58a0:cbff:fe80:123","cupsUri":"https://127.0.0.1:19443","tcUri":null,"cupsCredCrc":1725286151,)"
            R"("tcCredCrc":2077607535,"station":"2.0.6(linux/testsim) 2026-11-30 11:29:24","model":"linux","package":null,"keys":[]})";
        REQUIRE(body.size() == 222);
        proto::update_info_request r;
        r.router = proto::parse_eui("58A0CBFFFE800123")->eui;
        r.cups_uri = "https://127.0.0.1:19443";
        r.cups_cred_crc = 1725286151;
        r.tc_cred_crc = 2077607535;
        r.station = "2.0.6(linux/testsim) 2026-11-30 11:29:24";
        r.model = "linux";
        CHECK(proto::encode_update_info_request(r) == body);
        const std::string expected =
            "POST /update-info HTTP/1.1\r\n"
            "Host: 127.0.0.1:19443\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length:   222\r\n"
            "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n"
            "\r\n" +
            body;
        CHECK(expected.size() == 370);
        CHECK(proto::station_update_info_http("127.0.0.1:19443", body, "Authorization: Bearer NNSXS.EXAMPLEKEY\r\n") == expected);
    }

    TEST_CASE("TV-S2: the WebSocket upgrade for discovery and traffic") {
        const std::string expected =
            "GET /router-info HTTP/1.1\r\n"
            "Host: 127.0.0.1:19454\r\n"
            "Upgrade: websocket\r\n"
            "Connection: upgrade\r\n"
            "Sec-WebSocket-Key: bpse8nVmEl6ZlX4lSb6RMw==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Authorization: Bearer NNSXS.TCKEY\r\n"
            "\r\n";
        CHECK(expected.size() == 200);
        CHECK(proto::station_ws_upgrade("127.0.0.1:19454", "/router-info", "Authorization: Bearer NNSXS.TCKEY\r\n") == expected);
        const auto traffic = proto::station_ws_upgrade("127.0.0.1:19454", "/traffic/58a0:cbff:fe80:123", "Authorization: Bearer NNSXS.TCKEY\r\n");
        CHECK(traffic.starts_with("GET /traffic/58a0:cbff:fe80:123 HTTP/1.1\r\nHost: 127.0.0.1:19454\r\n"));
    }

    TEST_CASE("TV-S3: the first discovery frame, masked with 01 01 01 01") {
        const std::string wire = unhex("819f 01010101 7a23736e74756473233b23343960313b626367673b676439313b303332237c");
        REQUIRE(wire.size() == 37);
        const std::string payload = R"({"router":"58a0:cbff:fe80:123"})";
        CHECK(proto::station_frame(proto::ws_opcode::text, payload) == wire);
        // The station's discovery payload comes from the lns codec.
        proto::router_info_request rq;
        rq.eui = proto::parse_eui("58A0CBFFFE800123")->eui;
        CHECK(proto::encode_router_info_request(rq) == payload);
        // Close frames use the zero mask: 0x88, 0x82, 00 00 00 00, 03 e8.
        CHECK(proto::station_frame(proto::ws_opcode::close, proto::station_close_payload(1000)) == unhex("8882 00000000 03e8"));
        // A masked frame read back by the reader gives the payload (the reader unmasks).
        proto::ws_frame_reader rd;
        CHECK(rd.consume(wire) == wire.size());
        REQUIRE(rd.has_frame());
        auto f = rd.take();
        CHECK(f.op == proto::ws_opcode::text);
        CHECK(f.payload == payload);
    }

    TEST_CASE("ws_frame_reader: server frames in any chunking, lengths 0/125/126/65536, limits") {
        auto server_frame = [](std::uint8_t b0, const std::string& payload) {
            std::string out;
            out += static_cast<char>(b0);
            const auto n = payload.size();
            if (n < 126) {
                out += static_cast<char>(n);
            } else if (n <= 0xffff) {
                out += static_cast<char>(126);
                out += static_cast<char>(n >> 8);
                out += static_cast<char>(n & 0xff);
            } else {
                out += static_cast<char>(127);
                for (int s = 56; s >= 0; s -= 8) out += static_cast<char>((static_cast<std::uint64_t>(n) >> s) & 0xff);
            }
            return out + payload;
        };
        for (std::size_t n : {0u, 1u, 125u, 126u, 65535u, 65536u}) {
            const std::string payload(n, 'x');
            const auto wire = server_frame(0x81, payload) + server_frame(0x89, "p");
            proto::ws_frame_reader rd(1u << 20);
            std::size_t pos = 0;
            // One byte at a time for the headers, then the rest.
            while (!rd.has_frame() && pos < wire.size()) pos += rd.consume(std::string_view(wire).substr(pos, pos < 12 ? 1 : wire.size()));
            REQUIRE(rd.has_frame());
            auto f = rd.take();
            CHECK(f.payload.size() == n);
            CHECK(f.op == proto::ws_opcode::text);
            pos += rd.consume(std::string_view(wire).substr(pos));
            REQUIRE(rd.has_frame());
            CHECK(rd.take().op == proto::ws_opcode::ping);
            CHECK(pos == wire.size());
        }
        {
            proto::ws_frame_reader rd(100);
            rd.consume(server_frame(0x81, std::string(101, 'x')));
            REQUIRE(rd.failure());
            CHECK(rd.failure()->id() == "wire.ws_too_long");
        }
        {
            proto::ws_frame_reader rd;
            rd.consume(unhex("c100"));  // RSV1
            REQUIRE(rd.failure());
            CHECK(rd.failure()->id() == "wire.ws_reserved_bits");
        }
        {
            proto::ws_frame_reader rd;
            rd.consume(unhex("8300"));  // opcode 3
            REQUIRE(rd.failure());
            CHECK(rd.failure()->id() == "wire.ws_bad_opcode");
        }
        {
            proto::ws_frame_reader rd;
            rd.consume(unhex("097e"));  // fragmented ping with a 16-bit length
            REQUIRE(rd.failure());
            CHECK(rd.failure()->id() == "wire.ws_bad_control_frame");
        }
        {
            proto::ws_frame_reader rd;
            rd.consume(unhex("817f 8000000000000000"));
            REQUIRE(rd.failure());
            CHECK(rd.failure()->id() == "wire.ws_too_long");
        }
    }

    TEST_CASE("parse_station_http_head: the station's status rule and Content-Length") {
        auto h = proto::parse_station_http_head("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length:   18\r\n\r\nxx");
        REQUIRE(h);
        REQUIRE(h->has_value());
        CHECK((*h)->status == 200);
        CHECK((*h)->content_length == 18u);
        CHECK_FALSE((*h)->chunked);
        CHECK((*h)->head_size == 81);  // 17 + 40 + 22 + 2
        auto partial = proto::parse_station_http_head("HTTP/1.1 200 OK\r\nContent-Le");
        REQUIRE(partial);
        CHECK_FALSE(partial->has_value());
        auto chunked = proto::parse_station_http_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        REQUIRE(chunked);
        CHECK((*chunked)->chunked);
        CHECK_FALSE((*chunked)->content_length);
        auto go101 = proto::parse_station_http_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        REQUIRE(go101);
        CHECK((*go101)->status == 101);
        CHECK(proto::parse_station_http_head("SSH-2.0-OpenSSH_9.2\r\n").err().id() == "wire.http_bad_status_line");
        CHECK(proto::parse_station_http_head("HTTP/2 200\r\n\r\n").err().id() == "wire.http_bad_status_line");
        // Found by the fuzzer: a sign is not a digit.
        CHECK(proto::parse_station_http_head("HTTP/1.1 -20 OK\r\n\r\n").err().id() == "wire.http_bad_status_line");
        CHECK(proto::parse_station_http_head("HTTP/1.1 +20 OK\r\n\r\n").err().id() == "wire.http_bad_status_line");
        CHECK(proto::parse_station_http_head("HTTP/1.1 200 OK\r\nbroken\r\n\r\n").err().id() == "wire.http_bad_header");
        CHECK(proto::parse_station_http_head("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n").err().id() == "wire.http_bad_content_length");
        CHECK(proto::parse_station_http_head(std::string("HTTP/1.1 200 OK\r\n") + std::string(9000, 'a')).err().id() == "wire.http_head_too_long");
    }
}
