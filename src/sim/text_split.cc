#include "sim/text_split.h"

#include <algorithm>

namespace keel::sim {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> pieces;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    pieces.emplace_back(text.substr(start, i - start));
    start = i;
  }
  return pieces;
}

std::vector<std::string> SplitBytes(std::string_view text, size_t max_bytes) {
  std::vector<std::string> pieces;
  if (max_bytes == 0) max_bytes = 1;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = std::min(text.size(), start + max_bytes);
    while (end < text.size() && end > start + 1 &&
           (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
      --end;
    }
    pieces.emplace_back(text.substr(start, end - start));
    start = end;
  }
  return pieces;
}

}  // namespace keel::sim
