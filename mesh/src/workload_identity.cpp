#include "mesh/workload_identity.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <system_error>
#include <utility>

#include "certificates.hpp"
#include "openssl_handles.hpp"
#include "secure_files.hpp"
#include "spiffe_id.hpp"

namespace fnd::mesh {

namespace fs = std::filesystem;

using internal::EvpPkeyPtr;
using internal::X509Ptr;

namespace {

constexpr std::string_view kCaKeyFile = "ca.key";
constexpr std::string_view kCaCertificateFile = "ca.crt";
constexpr std::chrono::seconds kCaLifetime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::years(10));
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertificateMode = 0644;
constexpr mode_t kDirMode = 0700;

Error unavailable(std::string message) { return make_error(std::string(kIdentityUnavailable), std::move(message)); }

Error peer_error(std::string_view code, std::string message) {
  return make_error(std::string(code), std::move(message), 401);
}

// Key material read from disk is wiped when it goes out of scope.
struct SecretText {
  std::string text;
  ~SecretText() { OPENSSL_cleanse(text.data(), text.size()); }
};

Result<bool> file_exists(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return make_errno_error(std::string(kIdentityUnavailable), "stat " + path, errno);
}

Status ensure_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return {};
  fs::create_directories(dir, ec);
  if (!ec) fs::permissions(dir, static_cast<fs::perms>(kDirMode), fs::perm_options::replace, ec);
  if (ec) return unavailable(fmt::format("cannot create the identity directory {}: {}", dir, ec.message()));
  return {};
}

// The CA's subject gets a random suffix so that two nodes' CAs are told apart in messages; the
// key identifiers are what tells them apart in verification.
Result<std::string> ca_common_name() {
  unsigned char suffix[4];
  if (RAND_bytes(suffix, sizeof suffix) != 1) {
    return unavailable("RAND_bytes failed: " + internal::take_openssl_errors());
  }
  return fmt::format("fnd node CA {:02x}{:02x}{:02x}{:02x}", suffix[0], suffix[1], suffix[2], suffix[3]);
}

// The trust domain a CA certificate is for: the one of its spiffe:// URI SAN without a path.
std::optional<std::string> ca_trust_domain(const X509* certificate) {
  for (const std::string& uri : internal::uri_sans(certificate)) {
    auto id = internal::parse_spiffe_id(uri);
    if (id.ok() && id->path.empty()) return id->trust_domain;
  }
  return std::nullopt;
}

bool looks_like_spiffe(std::string_view uri) {
  constexpr std::string_view kScheme = "spiffe:";
  return uri.size() >= kScheme.size() && std::equal(kScheme.begin(), kScheme.end(), uri.begin(), [](char a, char b) {
           return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
         });
}

// Which certificate of a chain a message is about: the leaf by its SPIFFE ID, a CA by subject.
std::string describe(const X509* certificate, int depth) {
  if (certificate == nullptr) return "a certificate in the peer's chain";
  if (depth == 0) {
    auto uris = internal::uri_sans(certificate);
    return uris.empty() ? fmt::format("the peer's certificate ({})", internal::subject_text(certificate))
                        : fmt::format("the peer's certificate ({})", uris.front());
  }
  return fmt::format("the CA certificate {} at depth {} of the peer's chain", internal::subject_text(certificate),
                     depth);
}

Error verification_error(X509_STORE_CTX* context, SystemTime now) {
  const int code = X509_STORE_CTX_get_error(context);
  const int depth = X509_STORE_CTX_get_error_depth(context);
  const X509* current = X509_STORE_CTX_get_current_cert(context);
  const std::string which = describe(current, depth);
  switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return peer_error(
          kCertificateExpired,
          fmt::format("{} expired at {} (it is {}); the peer must renew it", which,
                      format_rfc3339(current ? internal::not_after(current) : SystemTime{}), format_rfc3339(now)));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return peer_error(
          kCertificateNotYetValid,
          fmt::format("{} is not valid before {} (it is {}); check the clocks of both nodes", which,
                      format_rfc3339(current ? internal::not_before(current) : SystemTime{}), format_rfc3339(now)));
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return peer_error(kCertificateUnknownCa,
                        fmt::format("{} was not issued by a trusted CA; add the peer's CA to the trust bundle if "
                                    "the peer is meant to be trusted",
                                    which));
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
      return peer_error(kCertificateBadSignature,
                        fmt::format("the signature on {} does not verify with its issuer's key: the certificate "
                                    "was altered or forged",
                                    which));
    default:
      return peer_error(kCertificateInvalid, fmt::format("{} was refused: {} (X509 error {})", which,
                                                         X509_verify_cert_error_string(code), code));
  }
}

}  // namespace

bool is_peer_rejection(const Error& error) {
  static constexpr std::string_view kPeerCodes[] = {kCertificateExpired,          kCertificateNotYetValid,
                                                    kCertificateUnknownCa,        kCertificateBadSignature,
                                                    kCertificateWrongTrustDomain, kCertificateInvalid};
  return std::find(std::begin(kPeerCodes), std::end(kPeerCodes), error.code) != std::end(kPeerCodes);
}

bool IssuedIdentity::needs_rotation(SystemTime now) const {
  return now < not_before || now >= not_before + (not_after - not_before) / 2;
}

// ---- NodeCa ----

struct NodeCa::Impl {
  EvpPkeyPtr key;
  X509Ptr certificate;
  std::string certificate_pem;
  std::string trust_domain;
  SystemTime not_after;
  const Clock* clock = nullptr;
  SteadyTime steady_at_start;
  SystemTime wall_at_start;

  SystemTime now() const {
    return wall_at_start + std::chrono::duration_cast<SystemTime::duration>(clock->now() - steady_at_start);
  }
};

namespace {

// A CA key and certificate that belong together.
struct CaPair {
  EvpPkeyPtr key;
  X509Ptr certificate;
};

Result<CaPair> create_ca(const std::string& key_path, const std::string& certificate_path,
                         const std::string& trust_domain, SystemTime now) {
  auto key = internal::generate_p256_key();
  if (!key.ok()) return key.error();
  auto common_name = ca_common_name();
  if (!common_name.ok()) return common_name.error();
  const SystemTime start = std::chrono::floor<std::chrono::seconds>(now);
  internal::CertificateTemplate spec{*common_name, std::string(internal::kSpiffeScheme) + trust_domain,
                                     start - kNotBeforeBackdate, start + kCaLifetime, true};
  auto certificate = internal::build_certificate(spec, key->get(), nullptr, key->get());
  if (!certificate.ok()) return certificate.error();
  auto key_pem = internal::private_key_to_pem(key->get());
  if (!key_pem.ok()) return key_pem.error();
  SecretText key_text{std::move(key_pem).value()};
  auto certificate_pem = internal::certificate_to_pem(certificate->get());
  if (!certificate_pem.ok()) return certificate_pem.error();
  // The key first: a crash in between leaves a key without a certificate, which load refuses
  // with a message, rather than a certificate nobody can sign with.
  if (Status s = internal::write_file_atomically(key_path, key_text.text, kKeyMode); !s.ok()) return s.error();
  if (Status s = internal::write_file_atomically(certificate_path, *certificate_pem, kCertificateMode); !s.ok()) {
    return s.error();
  }
  return CaPair{std::move(key).value(), std::move(certificate).value()};
}

Result<CaPair> load_ca(const std::string& key_path, const std::string& certificate_path,
                       const std::string& expected_trust_domain, SystemTime now) {
  const std::string start_over = fmt::format(
      "or move {} and {} away to have fnd create a new CA (every workload certificate is then issued "
      "again)",
      key_path, certificate_path);
  auto key_text = internal::read_private_file(key_path);
  if (!key_text.ok()) return key_text.error();
  SecretText secret{std::move(key_text).value()};
  CaPair ca{internal::private_key_from_pem(secret.text), nullptr};
  if (!ca.key) {
    return unavailable(fmt::format("{} holds no unencrypted PEM private key; restore it {}", key_path, start_over));
  }
  auto certificate_text = internal::read_regular_file(certificate_path);
  if (!certificate_text.ok()) return certificate_text.error();
  auto certificates = internal::certificates_from_pem(*certificate_text);
  if (certificates.empty()) {
    return unavailable(fmt::format("{} holds no PEM certificate; restore it {}", certificate_path, start_over));
  }
  ca.certificate = std::move(certificates.front());
  X509* certificate = ca.certificate.get();
  if (X509_check_private_key(certificate, ca.key.get()) != 1) {
    internal::take_openssl_errors();
    return unavailable(fmt::format("{} is not the key of the certificate in {}; restore the matching pair {}", key_path,
                                   certificate_path, start_over));
  }
  if (!internal::is_ca(certificate)) {
    return unavailable(
        fmt::format("{} is not a CA certificate; restore the node CA's certificate {}", certificate_path, start_over));
  }
  auto trust_domain = ca_trust_domain(certificate);
  if (trust_domain != expected_trust_domain) {
    return unavailable(
        fmt::format("{} is the CA of trust domain '{}', not '{}'; configure the trust domain it was "
                    "made for, {}",
                    certificate_path, trust_domain.value_or("(none)"), expected_trust_domain, start_over));
  }
  if (now >= internal::not_after(certificate)) {
    return unavailable(fmt::format("the node CA in {} expired at {}; move {} and {} away to have fnd create a new one",
                                   certificate_path, format_rfc3339(internal::not_after(certificate)), key_path,
                                   certificate_path));
  }
  if (now < internal::not_before(certificate)) {
    return unavailable(fmt::format("the node CA in {} is not valid before {} and it is {}; check the system clock",
                                   certificate_path, format_rfc3339(internal::not_before(certificate)),
                                   format_rfc3339(now)));
  }
  return ca;
}

}  // namespace

Result<NodeCa> NodeCa::load_or_create(const std::string& dir, std::string trust_domain, const Clock& clock,
                                      SystemTime wall_at_start) {
  const SteadyTime steady_at_start = clock.now();  // the instant wall_at_start stands for
  if (Status valid = validate_trust_domain(trust_domain); !valid.ok()) return valid.error();
  if (Status made = ensure_dir(dir); !made.ok()) return made.error();
  const std::string key_path = (fs::path(dir) / kCaKeyFile).string();
  const std::string certificate_path = (fs::path(dir) / kCaCertificateFile).string();
  auto key_exists = file_exists(key_path);
  if (!key_exists.ok()) return key_exists.error();
  auto certificate_exists = file_exists(certificate_path);
  if (!certificate_exists.ok()) return certificate_exists.error();
  if (*key_exists != *certificate_exists) {
    const std::string& present = *key_exists ? key_path : certificate_path;
    const std::string& missing = *key_exists ? certificate_path : key_path;
    return unavailable(fmt::format("{} exists but {} does not; restore it, or move {} away to have fnd create a new CA",
                                   present, missing, present));
  }

  auto ca = *key_exists ? load_ca(key_path, certificate_path, trust_domain, wall_at_start)
                        : create_ca(key_path, certificate_path, trust_domain, wall_at_start);
  if (!ca.ok()) return ca.error();
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(ca->key);
  impl->certificate = std::move(ca->certificate);
  // Caches the certificate's extensions now, so that concurrent issue() calls only read it.
  if (!internal::is_ca(impl->certificate.get())) return unavailable(certificate_path + " is not a CA certificate");
  auto pem = internal::certificate_to_pem(impl->certificate.get());
  if (!pem.ok()) return pem.error();
  impl->certificate_pem = std::move(pem).value();
  impl->not_after = internal::not_after(impl->certificate.get());
  impl->trust_domain = std::move(trust_domain);
  impl->clock = &clock;
  impl->steady_at_start = steady_at_start;
  impl->wall_at_start = wall_at_start;
  return NodeCa(std::move(impl));
}

NodeCa::NodeCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NodeCa::NodeCa(NodeCa&& other) noexcept = default;
NodeCa& NodeCa::operator=(NodeCa&& other) noexcept = default;
NodeCa::~NodeCa() = default;

const std::string& NodeCa::ca_pem() const { return impl_->certificate_pem; }
const std::string& NodeCa::trust_domain() const { return impl_->trust_domain; }
SystemTime NodeCa::ca_not_after() const { return impl_->not_after; }
SystemTime NodeCa::now() const { return impl_->now(); }

Result<IssuedIdentity> NodeCa::issue(std::string_view spiffe_id, std::chrono::seconds ttl) const {
  auto id = internal::parse_spiffe_id(spiffe_id);
  if (!id.ok()) return id.error();
  if (id->trust_domain != impl_->trust_domain) {
    return make_error(std::string(kInvalidSpiffeId),
                      fmt::format("the SPIFFE ID '{}' is in trust domain '{}'; this node's CA signs only '{}'",
                                  spiffe_id, id->trust_domain, impl_->trust_domain),
                      400);
  }
  if (id->path.empty()) {
    return make_error(std::string(kInvalidSpiffeId),
                      fmt::format("the SPIFFE ID '{}' names the trust domain, not a workload; add a path such as "
                                  "/fn/NAME",
                                  spiffe_id),
                      400);
  }
  if (ttl <= std::chrono::seconds::zero()) {
    return make_error(
        std::string(kInvalidCertificateTtl),
        fmt::format("a certificate lifetime of {}s is not positive; use a lifetime such as 24h", ttl.count()), 400);
  }
  const SystemTime now = std::chrono::floor<std::chrono::seconds>(impl_->now());
  if (now >= impl_->not_after) {
    return unavailable(
        fmt::format("the node CA expired at {}; move ca.key and ca.crt out of the identity directory "
                    "and restart fnd to create a new one",
                    format_rfc3339(impl_->not_after)));
  }
  auto key = internal::generate_p256_key();
  if (!key.ok()) return key.error();
  internal::CertificateTemplate spec{"", std::string(spiffe_id), now - kNotBeforeBackdate,
                                     std::min(now + ttl, impl_->not_after), false};
  auto certificate = internal::build_certificate(spec, key->get(), impl_->certificate.get(), impl_->key.get());
  if (!certificate.ok()) return certificate.error();
  auto certificate_pem = internal::certificate_to_pem(certificate->get());
  if (!certificate_pem.ok()) return certificate_pem.error();
  auto key_pem = internal::private_key_to_pem(key->get());
  if (!key_pem.ok()) return key_pem.error();
  return IssuedIdentity{std::string(spiffe_id), std::move(certificate_pem).value(), std::move(key_pem).value(),
                        internal::not_before(certificate->get()), internal::not_after(certificate->get())};
}

// ---- verify_peer ----

Result<PeerIdentity> verify_peer(std::string_view chain_pem, std::string_view trusted_ca_pem, SystemTime now) {
  auto chain = internal::certificates_from_pem(chain_pem);
  if (chain.empty()) {
    return peer_error(kCertificateInvalid, "the peer's certificate chain holds no well-formed PEM certificate");
  }
  auto trusted = internal::certificates_from_pem(trusted_ca_pem);
  if (trusted.empty()) {
    return unavailable("the trusted CA bundle holds no well-formed PEM certificate; give it the PEM of the node CA");
  }
  internal::X509StorePtr store(X509_STORE_new());
  internal::X509StackPtr untrusted(sk_X509_new_null());
  internal::X509StoreCtxPtr context(X509_STORE_CTX_new());
  if (!store || !untrusted || !context)
    return unavailable("allocating a certificate store failed: " + internal::take_openssl_errors());
  for (const X509Ptr& ca : trusted) {
    if (X509_STORE_add_cert(store.get(), ca.get()) != 1) {
      return unavailable("adding a CA to the certificate store failed: " + internal::take_openssl_errors());
    }
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) {
      return unavailable("building the peer's chain failed: " + internal::take_openssl_errors());
    }
  }
  X509* leaf = chain.front().get();
  if (X509_STORE_CTX_init(context.get(), store.get(), leaf, untrusted.get()) != 1) {
    return unavailable("X509_STORE_CTX_init failed: " + internal::take_openssl_errors());
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(context.get()), std::chrono::system_clock::to_time_t(now));
  if (X509_verify_cert(context.get()) != 1) {
    Error error = verification_error(context.get(), now);
    internal::take_openssl_errors();
    return error;
  }
  if (internal::is_ca(leaf)) {
    return peer_error(kCertificateInvalid,
                      fmt::format("{} is a CA certificate, not a workload's; the peer must present its own "
                                  "certificate",
                                  describe(leaf, 0)));
  }

  STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(context.get());
  const X509* anchor = sk_X509_value(verified, sk_X509_num(verified) - 1);
  const std::optional<std::string> anchor_domain = ca_trust_domain(anchor);

  PeerIdentity identity;
  for (std::string& uri : internal::uri_sans(leaf)) {
    if (!looks_like_spiffe(uri)) continue;
    auto id = internal::parse_spiffe_id(uri);
    if (!id.ok())
      return peer_error(kCertificateInvalid, "the peer's certificate has a malformed SPIFFE ID: " + id.error().message);
    if (anchor_domain && id->trust_domain != *anchor_domain) {
      return peer_error(kCertificateWrongTrustDomain,
                        fmt::format("the peer's certificate claims {} but its CA {} speaks only for trust domain "
                                    "'{}'",
                                    uri, internal::subject_text(anchor), *anchor_domain));
    }
    identity.spiffe_ids.push_back(std::move(uri));
  }
  identity.dns_names = internal::dns_sans(leaf);
  identity.not_after = internal::not_after(leaf);
  return identity;
}

// ---- IdentityCache ----

IdentityCache::IdentityCache(const NodeCa& ca, std::chrono::seconds ttl) : ca_(ca), ttl_(ttl) {}

Result<std::shared_ptr<const IssuedIdentity>> IdentityCache::identity_for(std::string_view spiffe_id) {
  std::lock_guard lock(mutex_);
  auto it = identities_.find(spiffe_id);
  if (it != identities_.end() && !it->second->needs_rotation(ca_.now())) return it->second;
  auto issued = ca_.issue(spiffe_id, ttl_);
  if (!issued.ok()) return issued.error();
  auto identity = std::make_shared<const IssuedIdentity>(std::move(issued).value());
  if (it != identities_.end()) {
    it->second = identity;
  } else {
    identities_.emplace(std::string(spiffe_id), identity);
  }
  return identity;
}

void IdentityCache::forget(std::string_view spiffe_id) {
  std::lock_guard lock(mutex_);
  if (auto it = identities_.find(spiffe_id); it != identities_.end()) identities_.erase(it);
}

std::size_t IdentityCache::size() const {
  std::lock_guard lock(mutex_);
  return identities_.size();
}

}  // namespace fnd::mesh
