#include "spiffe_id.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "mesh/workload_identity.hpp"

namespace fnd::mesh {

namespace {

constexpr std::size_t kMaxTrustDomainLength = 255;
constexpr std::size_t kMaxLabelLength = 63;

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Why `trust_domain` is not one, or "" when it is.
std::string trust_domain_problem(std::string_view trust_domain) {
  if (trust_domain.empty()) return "is empty";
  if (trust_domain.size() > kMaxTrustDomainLength)
    return fmt::format("is longer than {} characters", kMaxTrustDomainLength);
  for (char c : trust_domain) {
    if (c >= 'A' && c <= 'Z') return "has uppercase letters (trust domains are lowercase)";
    if (!lower_alnum(c) && c != '.' && c != '-' && c != '_') {
      return fmt::format("has the character '{}' (only a-z, 0-9, '.', '-' and '_' are allowed)", c);
    }
  }
  std::size_t start = 0;
  while (true) {
    std::size_t dot = trust_domain.find('.', start);
    std::string_view label =
        trust_domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return "has an empty label (a leading, trailing or doubled '.')";
    if (label.size() > kMaxLabelLength) return fmt::format("has a label longer than {} characters", kMaxLabelLength);
    if (label.front() == '-' || label.back() == '-')
      return fmt::format("has the label '{}' starting or ending with '-'", label);
    if (dot == std::string_view::npos) return "";
    start = dot + 1;
  }
}

bool path_char(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_'; }

// Why `path` ("" or "/a/b") is not a SPIFFE path, or "" when it is.
std::string path_problem(std::string_view path) {
  if (path.empty()) return "";
  std::size_t start = 1;  // path[0] == '/'
  while (true) {
    std::size_t slash = path.find('/', start);
    std::string_view segment =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty()) return "has an empty path segment (a doubled or trailing '/')";
    if (segment == "." || segment == "..") return fmt::format("has the relative path segment '{}'", segment);
    auto bad = std::find_if_not(segment.begin(), segment.end(), path_char);
    if (bad != segment.end()) {
      return fmt::format("has the character '{}' in its path (only letters, digits, '.', '-' and '_' are allowed)",
                         *bad);
    }
    if (slash == std::string_view::npos) return "";
    start = slash + 1;
  }
}

}  // namespace

Status validate_trust_domain(std::string_view trust_domain) {
  std::string problem = trust_domain_problem(trust_domain);
  if (problem.empty()) return {};
  return make_error(std::string(kInvalidTrustDomain),
                    fmt::format("the trust domain '{}' {}; use a lowercase DNS-like name such as 'cluster.local'",
                                trust_domain, problem),
                    400);
}

std::string spiffe_id_for_function(std::string_view trust_domain, std::string_view name) {
  return fmt::format("{}{}/fn/{}", internal::kSpiffeScheme, trust_domain, name);
}

std::string spiffe_id_for_service(std::string_view trust_domain, std::string_view name) {
  return fmt::format("{}{}/svc/{}", internal::kSpiffeScheme, trust_domain, name);
}

namespace internal {

Result<SpiffeId> parse_spiffe_id(std::string_view id) {
  auto invalid = [&](std::string_view problem) {
    return make_error(std::string(kInvalidSpiffeId),
                      fmt::format("the SPIFFE ID '{}' {}; use spiffe://TRUST_DOMAIN/PATH such as "
                                  "spiffe://cluster.local/fn/hello",
                                  id, problem),
                      400);
  };
  if (id.size() > kMaxSpiffeIdLength) return invalid(fmt::format("is longer than {} bytes", kMaxSpiffeIdLength));
  if (!id.starts_with(kSpiffeScheme)) return invalid("does not start with 'spiffe://'");
  std::string_view rest = id.substr(kSpiffeScheme.size());
  std::size_t slash = rest.find('/');
  std::string_view trust_domain = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (std::string problem = trust_domain_problem(trust_domain); !problem.empty()) {
    return invalid(fmt::format("has a trust domain that {}", problem));
  }
  if (std::string problem = path_problem(path); !problem.empty()) return invalid(problem);
  return SpiffeId{std::string(trust_domain), std::string(path)};
}

}  // namespace internal

}  // namespace fnd::mesh
