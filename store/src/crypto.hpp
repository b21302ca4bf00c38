// OpenSSL behind a small interface, private to the store module: randomness, SHA-256, encodings
// and AES-256-GCM. No OpenSSL type leaves crypto.cpp.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace fnd::store::internal {

inline constexpr size_t kAesKeyBytes = 32;
inline constexpr size_t kGcmNonceBytes = 12;
inline constexpr size_t kGcmTagBytes = 16;

using AesKey = std::array<unsigned char, kAesKeyBytes>;
using GcmNonce = std::array<unsigned char, kGcmNonceBytes>;
using Sha256Digest = std::array<unsigned char, 32>;

// Fills `out` from OpenSSL's CSPRNG. Fails (internal_error) only when the CSPRNG cannot be seeded.
Status random_bytes(std::span<unsigned char> out);

Sha256Digest sha256(std::string_view data);

// Lowercase hex.
std::string to_hex(std::span<const unsigned char> bytes);
// The bytes of lowercase or uppercase hex; nullopt for anything else.
std::optional<std::string> from_hex(std::string_view hex);
// Base64: core/base64.hpp.

// AES-256-GCM with a 96-bit nonce: returns ciphertext || 16-byte tag. `aad` is authenticated,
// not encrypted. Fails (internal_error) only when OpenSSL cannot allocate its context.
Result<std::string> gcm_seal(const AesKey& key, const GcmNonce& nonce, std::string_view aad,
                             std::string_view plaintext);
// The plaintext of gcm_seal's output; nullopt when the tag does not verify: another key, or an
// altered ciphertext, tag, nonce or aad. Never returns unauthenticated bytes.
std::optional<std::string> gcm_open(const AesKey& key, const GcmNonce& nonce, std::string_view aad,
                                    std::string_view sealed);

// Equality in time independent of where the buffers differ (CRYPTO_memcmp); false when the
// lengths differ.
bool equal_constant_time(std::string_view a, std::string_view b);

// Overwrites memory the compiler may not optimize the write away (OPENSSL_cleanse).
void cleanse(void* data, size_t size);

}  // namespace fnd::store::internal
