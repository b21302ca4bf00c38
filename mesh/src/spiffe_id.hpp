// SPIFFE IDs (spiffe://TRUST_DOMAIN/PATH), parsed by the rules of the SPIFFE ID specification,
// strictly: lowercase scheme and trust domain, no port, user info, query or fragment.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::mesh::internal {

inline constexpr std::string_view kSpiffeScheme = "spiffe://";
inline constexpr std::size_t kMaxSpiffeIdLength = 2048;

struct SpiffeId {
  std::string trust_domain;
  std::string path;  // "" for the trust domain itself, else "/seg/seg..." with no trailing '/'
};

// Errors: kInvalidSpiffeId, its message saying which rule `id` breaks.
Result<SpiffeId> parse_spiffe_id(std::string_view id);

}  // namespace fnd::mesh::internal
