// Workload identity for the mesh, in the SPIFFE shape: every function and service gets an X.509
// certificate whose URI SAN is its SPIFFE ID (spiffe://TRUST_DOMAIN/fn/NAME, .../svc/NAME), signed
// by the node's own certificate authority. Peers prove who they are with these certificates and
// verify_peer() says what a presented chain proves.
//
// Everything crosses this interface as PEM strings: OpenSSL stays private to the mesh module.
//
// Time. Certificates carry wall-clock times while fnd's injected Clock is monotonic. A NodeCa maps
// one onto the other through an anchor read once, when it is loaded:
//     wall(t) = wall_at_start + (t - clock.now() at load_or_create)
// so a fake Clock moves certificate time in tests, and in production certificate time is the
// system time at start plus the monotonic time elapsed since. A wall clock stepped after start
// (NTP correcting a board with no RTC) shifts certificate times by the step until the next start;
// not_before is backdated by kNotBeforeBackdate to absorb small skews between nodes.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"

namespace fnd::mesh {

// Error codes of workload identity (callers test them with these constants or the predicate).
// 500: the CA cannot be loaded, made or used.
inline constexpr std::string_view kIdentityUnavailable = "identity_unavailable";
inline constexpr std::string_view kInvalidTrustDomain = "invalid_trust_domain";        // 400
inline constexpr std::string_view kInvalidSpiffeId = "invalid_spiffe_id";              // 400
inline constexpr std::string_view kInvalidCertificateTtl = "invalid_certificate_ttl";  // 400
// 401: a peer's certificate chain proves nothing.
inline constexpr std::string_view kCertificateExpired = "certificate_expired";
inline constexpr std::string_view kCertificateNotYetValid = "certificate_not_yet_valid";
inline constexpr std::string_view kCertificateUnknownCa = "certificate_unknown_ca";
inline constexpr std::string_view kCertificateBadSignature = "certificate_bad_signature";
inline constexpr std::string_view kCertificateWrongTrustDomain = "certificate_wrong_trust_domain";
// Malformed, a CA as leaf, anything else.
inline constexpr std::string_view kCertificateInvalid = "certificate_invalid";

// True for the errors verify_peer() makes about the peer's chain (as opposed to our own setup).
bool is_peer_rejection(const Error& error);

inline constexpr std::chrono::seconds kDefaultIdentityTtl = std::chrono::hours(24);
inline constexpr std::chrono::seconds kNotBeforeBackdate = std::chrono::seconds(60);

// A trust domain is a lowercase DNS-like name: 1-255 characters of [a-z0-9._-] in dot-separated
// labels of 1-63 characters, none starting or ending with '-' (SPIFFE allows '_', so do we).
Status validate_trust_domain(std::string_view trust_domain);

// "spiffe://TRUST_DOMAIN/fn/NAME" and "spiffe://TRUST_DOMAIN/svc/NAME". Not validated here: the
// names are fnd names (validate_name) and NodeCa::issue() refuses a malformed ID.
std::string spiffe_id_for_function(std::string_view trust_domain, std::string_view name);
std::string spiffe_id_for_service(std::string_view trust_domain, std::string_view name);

// A workload's certificate and its private key. certificate_pem holds the leaf only: the node CA
// is the trust anchor peers already hold (NodeCa::ca_pem()). Times have second precision and
// are exactly the certificate's.
struct IssuedIdentity {
  std::string spiffe_id;
  std::string certificate_pem;
  std::string private_key_pem;  // PKCS#8, unencrypted: keep it in memory or in 0600 files only
  SystemTime not_before;
  SystemTime not_after;

  // True from half of the certificate's life on (and before not_before, which a clock gone
  // backwards would show), so a new certificate is in place long before this one expires.
  bool needs_rotation(SystemTime now) const;
};

// The node's certificate authority: EC P-256, self-signed, made at first start. Its key never
// leaves the process but for DIR/ca.key, which is readable by its owner only.
//
// Thread safety: const members may be called from any number of threads at once. Move-only.
class NodeCa {
 public:
  // Loads DIR/ca.key and DIR/ca.crt, or creates both when both are absent: a 10-year CA
  // certificate (CA:TRUE, pathlen 0, keyCertSign|cRLSign, URI SAN spiffe://TRUST_DOMAIN). Each
  // file is written to a temporary name, synced and renamed; the key with mode 0600. DIR is
  // created with mode 0700 when missing. `clock` must outlive the NodeCa; `wall_at_start` is the
  // wall time that clock.now() stands for at this call (see "Time" above).
  //
  // Errors: kInvalidTrustDomain; kIdentityUnavailable when a file cannot be read or written,
  // when only one of the two exists, when the key is readable by group or others or owned by
  // another user (the message names the file and says chmod 600), when the key does not match
  // the certificate, or when the certificate is not a CA of TRUST_DOMAIN or is expired.
  // Blocks on file I/O.
  static Result<NodeCa> load_or_create(const std::string& dir, std::string trust_domain, const Clock& clock,
                                       SystemTime wall_at_start = std::chrono::system_clock::now());

  NodeCa(NodeCa&& other) noexcept;
  NodeCa& operator=(NodeCa&& other) noexcept;
  NodeCa(const NodeCa&) = delete;
  NodeCa& operator=(const NodeCa&) = delete;
  ~NodeCa();

  // A fresh EC P-256 key and a certificate for `spiffe_id` valid from now - kNotBeforeBackdate to
  // now + ttl (cut at the CA's own expiry): the URI SAN (critical, the subject is empty),
  // CA:FALSE, digitalSignature, serverAuth + clientAuth, signed by this CA.
  // Errors: kInvalidSpiffeId (malformed, another trust domain, or no path), kInvalidCertificateTtl
  // (ttl <= 0), kIdentityUnavailable (the CA has expired, or OpenSSL failed).
  Result<IssuedIdentity> issue(std::string_view spiffe_id, std::chrono::seconds ttl = kDefaultIdentityTtl) const;

  const std::string& ca_pem() const;
  const std::string& trust_domain() const;
  SystemTime ca_not_after() const;
  // Wall time now, through the injected clock (see "Time" above).
  SystemTime now() const;

 private:
  struct Impl;
  explicit NodeCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What a verified certificate chain proves about the peer that presented it.
struct PeerIdentity {
  std::vector<std::string> spiffe_ids;  // URI SANs with the spiffe scheme, each well formed
  std::vector<std::string> dns_names;   // DNS SANs
  SystemTime not_after;                 // of the leaf
};

// Checks `chain_pem` (the leaf first, then any intermediates) against the CA certificates in
// `trusted_ca_pem` (one or more PEM blocks) at time `now`. A leaf that is itself a CA is refused,
// and when the trust anchor carries a spiffe://TRUST_DOMAIN URI SAN every SPIFFE ID of the leaf
// must be in that trust domain. Extended key usage is not checked here (the TLS layer checks it
// for its side of the handshake), nor proof of possession of the key (the handshake proves it).
// Errors: kCertificateExpired, kCertificateNotYetValid, kCertificateUnknownCa,
// kCertificateBadSignature, kCertificateWrongTrustDomain, kCertificateInvalid (all 401, each
// message says which certificate and why); kIdentityUnavailable when `trusted_ca_pem` holds no
// certificate. Pure: no I/O, thread safe.
Result<PeerIdentity> verify_peer(std::string_view chain_pem, std::string_view trusted_ca_pem, SystemTime now);

// Certificates per SPIFFE ID, issued on first use and issued again once needs_rotation() says so
// at ca.now(). Holds one certificate per ID it was asked for until forget(): the caller bounds it
// (one entry per function or service of the node).
//
// Thread safety: all members may be called concurrently; issuing happens under the lock (an EC
// P-256 key and a signature, well under a millisecond). The shared_ptr lets a caller keep
// using a certificate while another thread rotates it.
class IdentityCache {
 public:
  // `ca` must outlive the cache.
  explicit IdentityCache(const NodeCa& ca, std::chrono::seconds ttl = kDefaultIdentityTtl);

  // Errors: those of NodeCa::issue().
  Result<std::shared_ptr<const IssuedIdentity>> identity_for(std::string_view spiffe_id);
  // Drops the certificate of a workload that is gone.
  void forget(std::string_view spiffe_id);
  std::size_t size() const;

 private:
  const NodeCa& ca_;
  std::chrono::seconds ttl_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const IssuedIdentity>, std::less<>> identities_;  // guarded by mutex_
};

}  // namespace fnd::mesh
