// ttigctl lab, part 3 (lab_provision.cpp): claim, rotate and serve on a virtual clock.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace ttig::cli {

// Records one step of the tour (name, ok, what it showed, why it failed); returns ok.
using lab_step = std::function<bool(std::string name, bool ok, std::string what, std::string why)>;

void provisioning_tour(const lab_step& step, const std::filesystem::path& dir);

}  // namespace ttig::cli
