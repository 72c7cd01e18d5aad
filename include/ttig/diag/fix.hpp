// doctor --fix: the API-side fixes of disconnected-catalogue §7 for the causes doctor can repair
// through The Things Stack, shown as a plan first, carried out only when confirmed, then proven by
// running the ladder again.
//
//   lns-key-missing, lns-key-revoked   A1: create an LNS key (INFO + LINK) and store it in lbs_lns_secret
//   gs-address-wrong-or-unreachable    A2: set gateway_server_address (--gs-address, else the --tts host)
//   frequency-plan-missing             A3: set frequency_plan_ids (--frequency-plan, required)
//   cups-target-mode-stuck             A7: clear target_cups_uri and target_cups_key
//
// Nothing is revoked or deleted: A1 adds a key next to whatever exists (the old key, if any, is
// already gone or unusable), A7 only clears fields. Creating an API key e-mails the gateway's
// administrative contact; the plan says so.
#pragma once

#include <ttig/diag/doctor.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ttig::diag {

struct fix_options {
    std::string gs_address;      // A2 value; empty: the host of doctor_options::tts_url
    std::string frequency_plan;  // A3 value; empty: A3 cannot be planned
};

struct fix_step_plan {
    std::string action;  // "A1"
    std::string what;    // one line for the user
    std::vector<std::string> calls;  // "POST /api/v3/gateways/<id>/api-keys {name, rights}" (no secrets)
};

struct fix_plan {
    std::string cause;
    std::vector<fix_step_plan> steps;
    std::vector<std::string> warnings;
    std::string not_fixable;  // set: why doctor cannot fix this cause through the API
    bool empty() const { return steps.empty(); }
};

// What doctor would do for the report's verdict.
fix_plan plan_fix(const report& r, const doctor_options& d, const fix_options& f);

struct fix_result {
    bool applied = false;
    std::vector<std::string> done;   // one line per call that succeeded (key IDs, never secrets)
    std::optional<std::string> error;  // the call that failed, with TTS's error
    report after;                    // the ladder run again
    bool proven = false;             // the original cause is gone from the new verdict
    std::string proof;               // the evidence that shows the fix works (e.g. lnsinfo.ok with the new key)
};

// Carries out the plan, then runs the ladder again (with the new LNS key for P13 after A1).
fix_result apply_fix(const fix_plan& plan, const report& before, const doctor_options& d, const fix_options& f);

nlohmann::ordered_json to_json(const fix_plan& p);
nlohmann::ordered_json to_json(const fix_result& r);

}  // namespace ttig::diag
