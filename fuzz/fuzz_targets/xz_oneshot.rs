//! The one-shot xz path against the streaming decoder: an xz file (CRC32 checks, as kernel
//! modules are) made from the first part of the input, damaged by the rest (pairs of
//! position and mask), must give the same bytes both ways or be refused by the one-shot
//! path; and the input as it is, as a file of its own.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use rprobe_modfile::xz::{decode, Outcome};

/// What the streaming decoder (all checks by liblzma) makes of `file`, capped.
fn streamed(file: &[u8], limit: u64) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    liblzma::read::XzDecoder::new_multi_decoder(file)
        .take(limit + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() as u64 <= limit).then_some(out)
}

fn check(file: &[u8]) {
    let limit = 1 << 20;
    match decode(file, limit) {
        Some(Outcome::Decoded(out)) => {
            assert!(streamed(file, limit).as_deref() == Some(&out[..]), "one-shot bytes differ");
        }
        Some(Outcome::TooLarge) => assert!(streamed(file, limit).is_none()),
        // Refused: the streaming decoder may still read a stream whose damage only the
        // index-based checks see; never the other way round.
        Some(Outcome::Corrupt(_)) | None => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let split = data.first().map_or(0, |&b| usize::from(b) * 16).min(data.len());
    let (plain, damage) = data.split_at(split);
    let Ok(stream) = liblzma::stream::Stream::new_easy_encoder(1, liblzma::stream::Check::Crc32)
    else {
        return;
    };
    let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    if std::io::Write::write_all(&mut e, plain).is_err() {
        return;
    }
    let Ok(mut file) = e.finish() else { return };
    assert!(
        decode(&file, 1 << 20) == Some(Outcome::Decoded(plain.to_vec())),
        "a clean CRC32 stream decodes in one shot"
    );
    for pair in damage.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % file.len();
        file[at] ^= pair[2];
    }
    check(&file);
});
