#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace keel::sim {

// Pieces for streamed deltas, so a client sees text arrive gradually as from a real model.

// Word-ish pieces: the first word, then each following run of spaces with its word
// ("echo: hi there" -> "echo:", " hi", " there"). Concatenated they give `text` back.
std::vector<std::string> SplitWords(std::string_view text);

// Pieces of at most `max_bytes` bytes that never cut a UTF-8 sequence.
std::vector<std::string> SplitBytes(std::string_view text, size_t max_bytes);

}  // namespace keel::sim
