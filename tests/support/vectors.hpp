// Test vectors of the shared docs that more than one test layer checks against, copied from the
// documents (never produced by our own encoders).
#pragma once

#include <string_view>

namespace ttig::test {

// basicstation-protocol §4.6, EU863-870 (EU_863_870_TTN), production, antenna gain 0,
// MuxTime 1735689600.123456: 1060 bytes on the wire.
inline constexpr std::string_view eu_router_config_vector =
    R"({"msgtype":"router_config","NetID":null,"JoinEui":null,"region":"EU863","hwspec":"sx1301/1",)"
    R"("freq_range":[863000000,870000000],"DRs":[[12,125,0],[11,125,0],[10,125,0],[9,125,0],[8,125,0],)"
    R"([7,125,0],[7,250,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0],[0,0,0]],)"
    R"("sx1301_conf":[{"radio_0":{"enable":true,"freq":867500000},"radio_1":{"enable":true,"freq":868500000},)"
    R"("chan_multiSF_0":{"enable":true,"radio":1,"if":-400000},"chan_multiSF_1":{"enable":true,"radio":1,"if":-200000},)"
    R"("chan_multiSF_2":{"enable":true,"radio":1,"if":0},"chan_multiSF_3":{"enable":true,"radio":0,"if":-400000},)"
    R"("chan_multiSF_4":{"enable":true,"radio":0,"if":-200000},"chan_multiSF_5":{"enable":true,"radio":0,"if":0},)"
    R"("chan_multiSF_6":{"enable":true,"radio":0,"if":200000},"chan_multiSF_7":{"enable":true,"radio":0,"if":400000},)"
    R"("chan_Lora_std":{"enable":true,"radio":1,"if":-200000,"bandwidth":250000,"spread_factor":7},)"
    R"("chan_FSK":{"enable":true,"radio":1,"if":300000,"datarate":50000}}],"MuxTime":1735689600.123456,)"
    R"("bcning":{"DR":3,"layout":[2,8,17],"freqs":[869525000]}})";

}  // namespace ttig::test
