#pragma once

// The concrete adapters behind MakeAdapter; private to this folder.

#include <memory>

#include "gateway/providers/provider.h"

namespace keel::gateway {

std::unique_ptr<ProviderAdapter> NewOpenAiAdapter();
std::unique_ptr<ProviderAdapter> NewAnthropicAdapter();

}  // namespace keel::gateway
