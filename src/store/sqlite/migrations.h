#pragma once

#include <string>
#include <vector>

namespace keel::store::sqlite {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The numbered migrations of schema/sqlite/, compiled into the binary (see CMakeLists.txt) so a
// server never depends on finding the schema files at run time.
const std::vector<Migration>& Migrations();

}  // namespace keel::store::sqlite
