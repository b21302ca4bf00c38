// X.509 work for workload identity, private to the mesh module: EC P-256 keys, certificates
// built and signed with the extensions SPIFFE asks for, PEM in and out, and the fields read back.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/time.hpp"
#include "openssl_handles.hpp"

namespace fnd::mesh::internal {

// What a certificate says; the extensions follow from `is_ca`:
//   CA:   basicConstraints critical CA:TRUE, pathlen:0; keyUsage critical keyCertSign, cRLSign
//   leaf: basicConstraints critical CA:FALSE; keyUsage critical digitalSignature;
//         extendedKeyUsage serverAuth, clientAuth
// Both: subjectKeyIdentifier, authorityKeyIdentifier (so a CA with the same name but another key
// is never taken for the issuer) and the URI SAN, critical when the subject is empty.
struct CertificateTemplate {
  std::string common_name;  // "" gives an empty subject, as SPIFFE leaves ask for nothing else
  std::string uri_san;
  SystemTime not_before;
  SystemTime not_after;
  bool is_ca = false;
};

// All fail only when OpenSSL does; their errors are kIdentityUnavailable.
Result<EvpPkeyPtr> generate_p256_key();
// Signs with `issuer_key` (SHA-256); `issuer` null makes the certificate self-signed.
Result<X509Ptr> build_certificate(const CertificateTemplate& spec, EVP_PKEY* subject_key, X509* issuer,
                                  EVP_PKEY* issuer_key);
Result<std::string> certificate_to_pem(X509* certificate);
Result<std::string> private_key_to_pem(EVP_PKEY* key);

// Every certificate in `pem`, in order; empty (with the OpenSSL errors taken) when a block is
// malformed or there is none.
std::vector<X509Ptr> certificates_from_pem(std::string_view pem);
EvpPkeyPtr private_key_from_pem(std::string_view pem);

SystemTime not_before(const X509* certificate);
SystemTime not_after(const X509* certificate);
std::vector<std::string> uri_sans(const X509* certificate);
std::vector<std::string> dns_sans(const X509* certificate);
bool is_ca(X509* certificate);
// "CN=..." or "(empty subject)", for messages.
std::string subject_text(const X509* certificate);

}  // namespace fnd::mesh::internal
