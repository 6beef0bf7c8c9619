#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace keel {

// 64-bit FNV-1a. Used for content hashes (workflow code, payloads, step requests) where the
// goal is to notice a change, not to resist an attacker; a stored hash is always compared
// together with what it names when a collision would matter.
uint64_t Fnv1a64(std::string_view data, uint64_t seed = 0xcbf29ce484222325ULL);
std::string Hex64(uint64_t value);

}  // namespace keel
