//! One-shot decoding of the xz files kernel modules are: one stream, CRC32 checks (what
//! the kernel's build writes, `xz --check=crc32`), decoded into an output sized from the
//! stream's own index, with each block's CRC32 verified here by crc32fast (CLMUL where the
//! CPU has it) instead of by liblzma's table code, which the vendored liblzma build uses.
//! Nothing is skipped: liblzma still verifies the headers, the index against the blocks it
//! decoded, and the footer; only the block checks move here, and each is compared with the
//! one stored in the file. Any other layout (padding, several streams, another check type,
//! a size beyond the cap) returns None and takes the streaming decoder.

use liblzma::stream::{Action, Status, Stream, IGNORE_CHECK};

/// Why the one-shot path gave its answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Decoded and every block's CRC32 matched.
    Decoded(Vec<u8>),
    /// The index declares more than the cap.
    TooLarge,
    /// The stream is damaged: what liblzma said, or the block whose check failed.
    Corrupt(String),
}

/// The magic at the start of every xz stream.
const HEADER_MAGIC: [u8; 6] = [0xFD, b'7', b'z', b'X', b'Z', 0];
/// The stream flags' check ID for CRC32.
const CHECK_CRC32: u8 = 0x01;
/// Stream header and footer size.
const EDGE: usize = 12;

/// One block as the index records it.
struct Block {
    /// Header, compressed data and check, without the padding (between the data and the
    /// check) that makes the block a multiple of four bytes.
    unpadded: u64,
    /// Its decoded size.
    uncompressed: u64,
}

/// Decodes `data` (a whole .xz file) in one shot when its layout is the simple one above;
/// None when it is not (the caller streams it instead).
pub fn decode(data: &[u8], limit: u64) -> Option<Outcome> {
    let blocks = blocks(data)?;
    let total = blocks
        .iter()
        .try_fold(0u64, |acc, b| acc.checked_add(b.uncompressed))?;
    if total > limit {
        return Some(Outcome::TooLarge);
    }
    let mut out = Vec::with_capacity(usize::try_from(total).ok()?);
    let mut stream = Stream::new_stream_decoder(u64::MAX, IGNORE_CHECK).ok()?;
    match stream.process_vec(data, &mut out, Action::Finish) {
        Ok(Status::StreamEnd) => {}
        // The index promised `total` bytes and the buffer is that big: anything but the end
        // of the stream here is a stream that does not match its own index.
        Ok(_) => return Some(Outcome::Corrupt("stream longer than its index".into())),
        Err(e) => return Some(Outcome::Corrupt(e.to_string())),
    }
    if out.len() as u64 != total {
        return Some(Outcome::Corrupt("stream shorter than its index".into()));
    }
    // Each block's check is its last four bytes (after the padding of its data).
    let (mut at, mut from) = (EDGE as u64, 0usize);
    for (i, b) in blocks.iter().enumerate() {
        let check_at = usize::try_from(at + padded(b.unpadded) - 4).ok()?;
        let stored = u32::from_le_bytes(data.get(check_at..check_at + 4)?.try_into().ok()?);
        let to = from + usize::try_from(b.uncompressed).ok()?;
        if crc32fast::hash(out.get(from..to)?) != stored {
            return Some(Outcome::Corrupt(format!(
                "block {} fails its CRC32 check",
                i + 1
            )));
        }
        at += padded(b.unpadded);
        from = to;
    }
    Some(Outcome::Decoded(out))
}

/// The blocks of a single-stream, CRC32-checked file without stream padding, from its
/// index; None for any other layout or an index that does not parse.
fn blocks(data: &[u8]) -> Option<Vec<Block>> {
    if data.len() < 2 * EDGE || data[..6] != HEADER_MAGIC || data[6] != 0 {
        return None;
    }
    if data[7] != CHECK_CRC32 {
        return None;
    }
    let footer = &data[data.len() - EDGE..];
    if &footer[10..] != b"YZ" || footer[8..10] != data[6..8] {
        return None;
    }
    let backward = u32::from_le_bytes(footer[4..8].try_into().ok()?);
    let index_size = (u64::from(backward) + 1) * 4;
    let index_start = (data.len() - EDGE).checked_sub(usize::try_from(index_size).ok()?)?;
    let index = &data[index_start..data.len() - EDGE];
    // Indicator, count, records, padding, CRC32.
    if index.first() != Some(&0) {
        return None;
    }
    let mut pos = 1;
    let count = varint(index, &mut pos)?;
    // Each record takes at least two bytes: a count beyond that is not this index.
    if count > index.len() as u64 / 2 {
        return None;
    }
    let mut blocks = Vec::with_capacity(count as usize);
    let mut end = EDGE as u64;
    for _ in 0..count {
        let unpadded = varint(index, &mut pos)?;
        let uncompressed = varint(index, &mut pos)?;
        // A block header is at least 8 bytes and the check 4.
        if unpadded < 12 {
            return None;
        }
        end = end.checked_add(padded(unpadded))?;
        blocks.push(Block {
            unpadded,
            uncompressed,
        });
    }
    // The blocks end where the index begins: one stream, nothing between.
    (end == index_start as u64).then_some(blocks)
}

/// A block's size padded to a multiple of four.
fn padded(unpadded: u64) -> u64 {
    unpadded.div_ceil(4) * 4
}

/// An xz variable-length integer (seven bits a byte, at most nine bytes).
fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..9 {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            // The last byte of a longer number is never zero.
            return (i == 0 || b != 0).then_some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xz(data: &[u8], check: liblzma::stream::Check) -> Vec<u8> {
        let stream = Stream::new_easy_encoder(6, check).expect("encoder");
        let mut e = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
        std::io::Write::write_all(&mut e, data).expect("write");
        e.finish().expect("finish")
    }

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn decodes_a_crc32_stream_in_one_shot() {
        let plain = sample();
        let file = xz(&plain, liblzma::stream::Check::Crc32);
        assert!(decode(&file, u64::MAX) == Some(Outcome::Decoded(plain)));
    }

    #[test]
    fn other_layouts_take_the_streaming_decoder() {
        let plain = sample();
        for check in [
            liblzma::stream::Check::Crc64,
            liblzma::stream::Check::None,
            liblzma::stream::Check::Sha256,
        ] {
            assert_eq!(decode(&xz(&plain, check), u64::MAX), None);
        }
        let one = xz(&plain, liblzma::stream::Check::Crc32);
        // Two streams, and stream padding.
        let two = [one.clone(), one.clone()].concat();
        assert_eq!(decode(&two, u64::MAX), None);
        let padded = [one.clone(), vec![0; 4]].concat();
        assert_eq!(decode(&padded, u64::MAX), None);
    }

    #[test]
    fn the_cap_is_read_from_the_index() {
        let plain = sample();
        let file = xz(&plain, liblzma::stream::Check::Crc32);
        assert_eq!(
            decode(&file, plain.len() as u64 - 1),
            Some(Outcome::TooLarge)
        );
    }

    #[test]
    fn a_damaged_check_or_payload_is_corrupt() {
        let plain = sample();
        let file = xz(&plain, liblzma::stream::Check::Crc32);
        let blocks = blocks(&file).expect("simple layout");
        let check_at = (EDGE as u64 + padded(blocks[0].unpadded) - 4) as usize;
        let mut bad = file.clone();
        bad[check_at] ^= 1;
        assert_eq!(
            decode(&bad, u64::MAX),
            Some(Outcome::Corrupt("block 1 fails its CRC32 check".into()))
        );
        // Every single-byte change in the compressed data is caught, by liblzma or by the
        // check (the one-shot path never returns other bytes than the stream's).
        let mut caught = 0;
        for at in (EDGE + 20..check_at).step_by(997) {
            let mut bad = file.clone();
            bad[at] ^= 0x55;
            match decode(&bad, u64::MAX) {
                Some(Outcome::Decoded(out)) => assert!(out == plain, "byte {at}"),
                Some(Outcome::Corrupt(_)) => caught += 1,
                Some(Outcome::TooLarge) | None => {}
            }
        }
        assert!(caught > 0);
    }
}
