//! The iteration order of kmod's internal hash table, which decides the order of
//! modules.symbols and of modules missing from modules.order: buckets in index order (the
//! key's "superfast" hash masked to the bucket count), keys sorted by byte value within a
//! bucket. Reproduced so that rprobe's output is byte-identical to kmod's.

/// Paul Hsieh's SuperFastHash as kmod computes it (16-bit reads in little-endian order, as
/// on the x86 machines whose output we match).
pub fn superfast(key: &[u8]) -> u32 {
    let len = key.len() as u32;
    let mut hash: u32 = len;
    let rem = key.len() & 3;
    let mut k = key;
    let rd16 = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]) as u32;
    for _ in 0..key.len() / 4 {
        hash = hash.wrapping_add(rd16(k));
        let tmp = (rd16(&k[2..]) << 11) ^ hash;
        hash = (hash << 16) ^ tmp;
        k = &k[4..];
        hash = hash.wrapping_add(hash >> 11);
    }
    // kmod reads `char`, signed on x86: sign-extend the odd bytes.
    let sc = |b: u8| b as i8 as i32 as u32;
    match rem {
        3 => {
            hash = hash.wrapping_add(rd16(k));
            hash ^= hash << 16;
            hash ^= sc(k[2]) << 18;
            hash = hash.wrapping_add(hash >> 11);
        }
        2 => {
            hash = hash.wrapping_add(rd16(k));
            hash ^= hash << 11;
            hash = hash.wrapping_add(hash >> 17);
        }
        1 => {
            hash = hash.wrapping_add(sc(k[0]));
            hash ^= hash << 10;
            hash = hash.wrapping_add(hash >> 1);
        }
        _ => {}
    }
    hash ^= hash << 3;
    hash = hash.wrapping_add(hash >> 5);
    hash ^= hash << 4;
    hash = hash.wrapping_add(hash >> 17);
    hash ^= hash << 25;
    hash = hash.wrapping_add(hash >> 6);
    hash
}

/// Sorts keys into the order kmod's hash table with `buckets` buckets iterates them.
pub fn sort_in_hash_order<T>(items: &mut Vec<T>, buckets: u32, key: impl Fn(&T) -> &str) {
    let n = buckets.next_power_of_two();
    // Each key hashed once, not once per comparison.
    let mut tagged: Vec<(u32, T)> = std::mem::take(items)
        .into_iter()
        .map(|x| (superfast(key(&x).as_bytes()) & (n - 1), x))
        .collect();
    tagged.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| key(&a.1).as_bytes().cmp(key(&b.1).as_bytes()))
    });
    *items = tagged.into_iter().map(|(_, x)| x).collect();
}
