// ttigctl eui CODE: canonical EUI, ID6 in both dialects, and the TTIG check.
#include "cli/common.hpp"

#include <ttig/proto/eui.hpp>

#include <fmt/format.h>

#include <memory>

namespace ttig::cli {

namespace {
struct eui_options {
    std::string code;
    bool json = false;
};

int run_eui(const eui_options& o) {
    auto p = proto::parse_eui(o.code);
    if (!p) return report_error("eui", p.err(), exit_usage, o.json);
    const auto& e = p->eui;
    const std::string station = proto::station_id6(e), tts = proto::tts_id6(e);
    if (o.json) {
        nlohmann::ordered_json j;
        j["eui"] = e.hex();
        j["id6"] = station;
        j["id6_tts"] = tts;
        j["decimal"] = e.value;
        j["dashed"] = e.dashed();
        j["gateway_id"] = e.gateway_id();
        j["traffic_path"] = e.traffic_path();
        j["form"] = std::string(proto::to_string(p->form));
        j["ttig"] = e.looks_like_ttig();
        if (e.looks_like_ttig()) j["ttig_label"] = fmt::format("{:06X}{:06X}", e.value >> 40, e.value & 0xFFFFFF);
        print_json(j);
        return exit_ok;
    }
    fmt::print("EUI           {}\n", e.hex());
    fmt::print("ID6           {}{}\n", station, station == tts ? "" : fmt::format("   (The Things Stack writes {})", tts));
    fmt::print("decimal       {}\n", e.value);
    fmt::print("dashed        {}\n", e.dashed());
    fmt::print("gateway ID    {}   (the ID TTS gives an auto-registered gateway)\n", e.gateway_id());
    fmt::print("traffic path  {}\n", e.traffic_path());
    fmt::print("read as       {}\n", proto::to_string(p->form));
    if (e.looks_like_ttig())
        fmt::print("TTIG          yes: label code {:06X}{:06X}, setup Wi-Fi MINIHUB-{:06X}\n", e.value >> 40, e.value & 0xFFFFFF,
                   e.value & 0xFFFFFF);
    else
        fmt::print("TTIG          no (a TTIG EUI is 58A0CB FFFE xxxxxx)\n");
    return exit_ok;
}
}  // namespace

void setup_eui(CLI::App& app) {
    auto o = std::make_shared<eui_options>();
    auto* sub = app.add_subcommand("eui", "Show a gateway EUI in every form: canonical hex, ID6 (station and TTS), gateway ID");
    sub->add_option("CODE", o->code,
                    "EUI-64 (58A0CBFFFE800001, 58-A0-..., 58:a0:..., eui-58a0...), ID6 (58a0:cbff:fe80:1) or TTIG label code "
                    "(58A0CB800001, optionally with the (92) prefix)")
        ->required();
    add_json_flag(*sub, o->json);
    sub->callback([o] {
        if (int rc = run_eui(*o); rc != 0) throw CLI::RuntimeError(rc);
    });
}

}  // namespace ttig::cli
