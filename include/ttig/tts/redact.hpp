// Keeping API keys out of logs and error details.
//
// A TTS token is "<type>.<id>.<secret>" in unpadded base32 (tts-api.md §2.1). Its redacted form
// keeps the type and the first 4 characters of the (public) key ID: "NNSXS.ABCD…". The secret
// never appears.
#pragma once

#include <string>
#include <string_view>

namespace ttig::tts {

// "NNSXS.3FWZEB5…" -> "NNSXS.3FWZ…". A value that is not token-shaped keeps at most its first 4
// characters when it is at least 16 long ("abcd…"), else becomes "…". Empty stays empty.
std::string redact_key(std::string_view key);

// Replaces every token-shaped substring ([A-Z2-7]{5}.[A-Z2-7]{16,}.[A-Z2-7]{16,}) with its
// redacted form, and every occurrence of `also` (a known secret, e.g. the client's key, when at
// least 8 characters long).
std::string redact_secrets(std::string_view text, std::string_view also = {});

}  // namespace ttig::tts
