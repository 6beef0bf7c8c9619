#include "gateway/providers/adapters.h"

namespace keel::gateway {

std::unique_ptr<ProviderAdapter> MakeAdapter(std::string_view kind) {
  if (kind == "openai") return NewOpenAiAdapter();
  if (kind == "anthropic") return NewAnthropicAdapter();
  return nullptr;
}

}  // namespace keel::gateway
