// Replays every file of the given folders (or files) through LLVMFuzzerTestOneInput.
// Used in non-fuzz builds so that each harness is compiled and its seeds run under ctest.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
int run_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "seed_driver: cannot read %s\n", p.c_str());
        return 1;
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return 0;
}
}  // namespace

int main(int argc, char** argv) {
    int ran = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (const auto& e : std::filesystem::directory_iterator(p)) {
                if (!e.is_regular_file()) continue;
                if (run_file(e.path()) != 0) return 1;
                ++ran;
            }
        } else {
            if (run_file(p) != 0) return 1;
            ++ran;
        }
    }
    LLVMFuzzerTestOneInput(nullptr, 0);  // the empty input is always a case
    std::printf("seed_driver: %d inputs replayed\n", ran);
    return ran > 0 ? 0 : 1;
}
