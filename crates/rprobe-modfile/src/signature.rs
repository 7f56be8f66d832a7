//! The signature appended to a module: `struct module_signature` (12 bytes) followed by
//! "~Module signature appended~\n", preceded by the signer, key id and signature bytes. For
//! PKCS#7 signatures (what every current kernel writes), the signer, key id (the issuer's
//! serial number) and hash algorithm come from the DER-encoded SignedData, which this module
//! walks with a small bounded DER reader (only the fields module tools print).

use serde::{Deserialize, Serialize};

/// The trailer magic.
pub const MAGIC: &[u8] = b"~Module signature appended~\n";

/// What modinfo shows of a signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureInfo {
    /// "PKCS#7", "X509" or "PGP".
    pub id_type: String,
    /// The signer's name (the issuer's common name for PKCS#7).
    pub signer: Vec<u8>,
    /// The key identifier (the issuer serial number for PKCS#7).
    pub key_id: Vec<u8>,
    /// The digest algorithm name ("sha256", ...).
    pub hash_algo: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

const HASHES: [&str; 9] = [
    "md4", "md5", "sha1", "rmd160", "sha256", "sha384", "sha512", "sha224", "sm3",
];
const ID_TYPES: [&str; 3] = ["PGP", "X509", "PKCS#7"];

/// Reads the signature trailer of a (decompressed) module image. `None` when there is no
/// trailer, or when it is inconsistent (a length pointing before the start of the file, an
/// unknown algorithm, undecodable PKCS#7): such a module is treated as unsigned, as kmod
/// does, never trusted and never a crash.
pub fn read(image: &[u8]) -> Option<SignatureInfo> {
    let body = image.strip_suffix(MAGIC)?;
    let split = body.len().checked_sub(12)?;
    let (rest, sig) = body.split_at(split);
    let (algo, hash, id_type, signer_len, key_id_len) = (
        sig[0],
        sig[1] as usize,
        sig[2] as usize,
        sig[3] as usize,
        sig[4] as usize,
    );
    let sig_len = u32::from_be_bytes([sig[8], sig[9], sig[10], sig[11]]) as usize;
    if algo >= 2 || hash >= HASHES.len() || id_type >= ID_TYPES.len() || sig_len == 0 {
        return None;
    }
    if rest.len() < signer_len + key_id_len + sig_len {
        return None;
    }
    let sig_start = rest.len() - sig_len;
    let raw = &rest[sig_start..];
    if id_type == 2 {
        return pkcs7(raw);
    }
    let key_start = sig_start - key_id_len;
    let signer_start = key_start - signer_len;
    Some(SignatureInfo {
        id_type: ID_TYPES[id_type].into(),
        signer: rest[signer_start..key_start].to_vec(),
        key_id: rest[key_start..sig_start].to_vec(),
        hash_algo: HASHES[hash].into(),
        signature: raw.to_vec(),
    })
}

/// One DER element: tag, content.
struct Der<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Splits the first DER element off `b`.
fn der(b: &[u8]) -> Option<(Der<'_>, &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let body = b.get(hdr..end)?;
    Some((Der { tag, body }, &b[end..]))
}

/// The elements of a constructed element's content.
fn items(mut b: &[u8]) -> Option<Vec<Der<'_>>> {
    let mut v = Vec::new();
    while !b.is_empty() {
        let (e, rest) = der(b)?;
        v.push(e);
        b = rest;
    }
    Some(v)
}

fn hash_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x04] => "md4",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05] => "md5",
        [0x2b, 0x0e, 0x03, 0x02, 0x1a] => "sha1",
        [0x2b, 0x24, 0x03, 0x02, 0x01] => "rmd160",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01] => "sha256",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02] => "sha384",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03] => "sha512",
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04] => "sha224",
        [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11] => "sm3",
        _ => return None,
    })
}

/// ContentInfo { signedData OID, [0] SignedData { version, digestAlgorithms, contentInfo,
/// [0] certificates?, [1] crls?, signerInfos SET { SignerInfo { version,
/// issuerAndSerialNumber { issuer Name, serial }, digestAlgorithm, [0] attrs?,
/// digestEncryptionAlgorithm, encryptedDigest } } } }
fn pkcs7(raw: &[u8]) -> Option<SignatureInfo> {
    let (ci, _) = der(raw)?;
    let ci = items(ci.body)?;
    let explicit = ci.get(1).filter(|e| e.tag == 0xa0)?;
    let (sd, _) = der(explicit.body)?;
    let sd = items(sd.body)?;
    let signer_infos = sd.iter().rev().find(|e| e.tag == 0x31)?;
    let (si, _) = der(signer_infos.body)?;
    let si = items(si.body)?;
    let ias = items(si.get(1)?.body)?;
    let issuer = ias.first()?;
    let serial = ias.get(1).filter(|e| e.tag == 0x02)?;
    let digest_alg = items(si.get(2)?.body)?;
    let hash = hash_name(digest_alg.first().filter(|e| e.tag == 0x06)?.body)?;
    let enc = si.iter().skip(3).find(|e| e.tag == 0x04)?;
    // The issuer's common name (OID 2.5.4.3), first one found.
    let mut signer = Vec::new();
    for rdn in items(issuer.body)? {
        for atv in items(rdn.body)? {
            let atv = items(atv.body)?;
            if atv.first().map(|o| o.body) == Some(&[0x55, 0x04, 0x03][..]) {
                if let Some(v) = atv.get(1) {
                    signer = v.body.to_vec();
                }
            }
        }
        if !signer.is_empty() {
            break;
        }
    }
    // The serial as an unsigned big number: no leading zero bytes.
    let mut key_id = serial.body;
    while key_id.first() == Some(&0) {
        key_id = &key_id[1..];
    }
    Some(SignatureInfo {
        id_type: "PKCS#7".into(),
        signer,
        key_id: key_id.to_vec(),
        hash_algo: hash.into(),
        signature: enc.body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(signer: &[u8], key: &[u8], sig: &[u8], id_type: u8, claimed: u32) -> Vec<u8> {
        let mut v = b"\x7fELF-body".to_vec();
        v.extend_from_slice(signer);
        v.extend_from_slice(key);
        v.extend_from_slice(sig);
        v.extend_from_slice(&[0, 4, id_type, signer.len() as u8, key.len() as u8, 0, 0, 0]);
        v.extend_from_slice(&claimed.to_be_bytes());
        v.extend_from_slice(MAGIC);
        v
    }

    #[test]
    fn plain_x509_trailer() {
        let img = trailer(b"Me", &[1, 2], &[9, 9, 9], 1, 3);
        let s = read(&img).unwrap();
        assert_eq!(s.id_type, "X509");
        assert_eq!(s.signer, b"Me");
        assert_eq!(s.key_id, [1, 2]);
        assert_eq!(s.hash_algo, "sha256");
        assert_eq!(s.signature, [9, 9, 9]);
    }

    #[test]
    fn lying_length_is_no_signature() {
        assert_eq!(read(&trailer(b"Me", &[1], &[9], 1, 0x7fff_ffff)), None);
        assert_eq!(read(&trailer(b"Me", &[1], &[9], 1, 0)), None);
        assert_eq!(read(&trailer(b"Me", &[1], &[9], 7, 1)), None);
        assert_eq!(read(MAGIC), None);
        assert_eq!(read(b"short"), None);
    }

    #[test]
    fn garbage_pkcs7_is_no_signature() {
        assert_eq!(read(&trailer(b"", &[], &[0x30, 0x82, 0xff], 2, 3)), None);
    }
}
