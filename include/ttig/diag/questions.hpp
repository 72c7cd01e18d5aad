// doctor's questionnaire (disconnected-catalogue §5.1, §5.4 user.* atoms): what only a person can
// see, asked on a terminal only when the evidence cannot separate the leading causes. Sans-io: the
// CLI asks, this file chooses the questions and turns answers into atoms.
#pragma once

#include <ttig/diag/verdict.hpp>

#include <optional>
#include <string>
#include <vector>

namespace ttig::diag {

struct question {
    std::string key;   // "led", or a user.* atom id ("user.manual_registration")
    std::string text;  // what is asked
    std::vector<std::string> choices;  // for "led": the patterns; empty: yes/no
};

// True when the verdict needs a person: not high confidence, or unknown.
bool needs_answers(const verdict& v);

// At most `max` questions whose answer would add or remove weight for the verdict or its
// alternatives (user.* atoms in their rules, not answered yet); the LED question first.
std::vector<question> questions_for(const verdict& v, const std::vector<atom>& atoms, std::size_t max = 3);

// The atom an answer adds ("yes" to a yes/no question, a pattern for "led"), or nothing.
std::optional<atom> answer_atom(const question& q, const std::string& answer);

}  // namespace ttig::diag
