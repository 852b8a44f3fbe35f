//! The register's image: the whole register at one version, kept in the database beside its
//! rows in a compact binary form ([`format`]), so that a server starts without parsing a
//! million rows of JSON. A start reads the newest image, then the changes recorded after its
//! version (`register_changes`), in one snapshot of the database; an image it cannot use
//! (unreadable, older than the changes kept) is passed over and the rows are read.
//!
//! The image lives in the same database as the rows, so a backup or a restore carries the
//! image of its own history, never another's. It is keyed by its format: a digest of the
//! encoding, the model's source and every migration, so that neither an upgrade nor a change
//! of the model is answered with an image of before. What is read from an image is validated
//! as what is read from rows is (`Register::new`): the image is trusted for speed, not for truth.

mod format;

use std::collections::VecDeque;
use std::sync::OnceLock;

use custos_core::model::{Activity, Contract, Engagement, Organisation};
use custos_core::register::{EntityKind, RegisterParts};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{RegisterChange, Store, StoreError, Tx};

/// Entries a chunk: a chunk is encoded, stored and decoded whole (about 0.4 MB of contracts).
const CHUNK_ENTRIES: usize = 4096;

/// Chunks written a transaction by `Store::write_register_image` (32k entries, a few MB).
pub const CHUNKS_A_TRANSACTION: usize = 8;

/// Chunks deleted a transaction (see `ImageWriter::delete_chunks`).
const CHUNKS_DELETED_A_TRANSACTION: i64 = 8;

/// Chunks decoded at once while the next are read.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Chunks read a query.
const CHUNKS_A_QUERY: i64 = 4;

/// The encoding's name, part of the format: change it with the encoding.
const ENCODING: &str = "positional-1";

/// The format of the images this program writes and reads: a digest of the encoding, the
/// program's version, the model's source and the migrations.
fn image_format() -> &'static str {
    static FORMAT: OnceLock<String> = OnceLock::new();
    FORMAT.get_or_init(|| {
        let mut digest = Sha256::new();
        digest.update(ENCODING);
        digest.update(env!("CARGO_PKG_VERSION"));
        for source in custos_core::MODEL_SOURCES {
            digest.update(source);
        }
        for migration in crate::SHARED_MIGRATIONS
            .iter()
            .chain(crate::POSTGRES_MIGRATIONS.iter())
        {
            digest.update(&migration.checksum);
        }
        let digest = digest.finalize();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{ENCODING}-{hex}")
    })
}

/// Which entries of a register one chunk of its image holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRange {
    kind: EntityKind,
    start: usize,
    end: usize,
}

/// A chunk of an image, encoded.
#[derive(Debug)]
pub struct EncodedChunk {
    kind: EntityKind,
    data: Vec<u8>,
}

/// The chunks an image of `parts` is written in, kind by kind, in order.
pub fn image_chunks(parts: &RegisterParts) -> Vec<ChunkRange> {
    let of = |kind, len: usize| {
        (0..len)
            .step_by(CHUNK_ENTRIES)
            .map(move |start| ChunkRange {
                kind,
                start,
                end: (start + CHUNK_ENTRIES).min(len),
            })
    };
    of(EntityKind::Organisation, parts.organisations.len())
        .chain(of(EntityKind::Activity, parts.activities.len()))
        .chain(of(EntityKind::Contract, parts.contracts.len()))
        .chain(of(EntityKind::Engagement, parts.engagements.len()))
        .collect()
}

/// The entries of `range` of `parts`, encoded.
pub fn encode_chunk(parts: &RegisterParts, range: &ChunkRange) -> Result<EncodedChunk, StoreError> {
    fn encode<T: Serialize>(entries: &[T]) -> Result<Vec<u8>, StoreError> {
        let mut data = Vec::new();
        format::encode_into(entries, &mut data)
            .map_err(|e| StoreError::Image(format!("an entry could not be encoded: {e}")))?;
        Ok(data)
    }
    let span = range.start..range.end;
    let data = match range.kind {
        EntityKind::Organisation => encode(&parts.organisations[span])?,
        EntityKind::Activity => encode(&parts.activities[span])?,
        EntityKind::Contract => encode(&parts.contracts[span])?,
        EntityKind::Engagement => encode(&parts.engagements[span])?,
    };
    Ok(EncodedChunk {
        kind: range.kind,
        data,
    })
}

/// The entries of a chunk, decoded.
enum Decoded {
    Organisations(Vec<Organisation>),
    Activities(Vec<Activity>),
    Contracts(Vec<Contract>),
    Engagements(Vec<Engagement>),
}

fn decode_as<T: DeserializeOwned>(data: &[u8]) -> Result<Vec<T>, String> {
    // Texts that links repeat (services, categories) are held once a chunk, as from rows.
    custos_core::values::Text::shared_while(|| format::decode(data)).map_err(|e| e.to_string())
}

fn decode(kind: &str, data: &[u8]) -> Result<Decoded, String> {
    Ok(match kind {
        "organisation" => Decoded::Organisations(decode_as(data)?),
        "activity" => Decoded::Activities(decode_as(data)?),
        "contract" => Decoded::Contracts(decode_as(data)?),
        "engagement" => Decoded::Engagements(decode_as(data)?),
        other => return Err(format!("a chunk of unknown kind {other:?}")),
    })
}

/// What a start finds of the register's image.
#[derive(Debug)]
pub enum ImageRead {
    /// No image of this program's format at or before the register's version.
    Missing,
    /// An image that could not be read, or whose changes after it cannot be listed, and
    /// why: read the rows.
    Unusable(String),
    /// The register as of `version`, and the changes after it in order, read in one snapshot.
    Read {
        version: u64,
        parts: RegisterParts,
        changes: Vec<RegisterChange>,
    },
}

/// An image being written, a few chunks a transaction so that the database's other writers
/// go on meanwhile; readers find it only once [`ImageWriter::finish`] has run.
#[derive(Debug)]
pub struct ImageWriter<'s> {
    store: &'s Store,
    version: i64,
    written: i64,
}

impl Store {
    /// The version of the newest image of this program's format, if any.
    pub async fn newest_register_image(&self) -> Result<Option<u64>, StoreError> {
        let mut tx = self.read().await?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM register_images WHERE format = $1")
                .bind(image_format())
                .fetch_one(&mut *tx.inner)
                .await?;
        tx.rollback().await?;
        Ok(version.map(|v| v as u64))
    }

    /// Starts writing the image of the register at `version`, dropping what an earlier
    /// attempt at the same image left.
    pub async fn register_image_writer(&self, version: u64) -> Result<ImageWriter<'_>, StoreError> {
        let writer = ImageWriter {
            store: self,
            version: version as i64,
            written: 0,
        };
        writer.discard_chunks().await?;
        Ok(writer)
    }

    /// Writes the image of `parts`, the register at `version` (as a large apply leaves it),
    /// a few chunks a transaction.
    pub async fn write_register_image(
        &self,
        version: u64,
        parts: &RegisterParts,
    ) -> Result<(), StoreError> {
        let mut writer = self.register_image_writer(version).await?;
        for batch in image_chunks(parts).chunks(CHUNKS_A_TRANSACTION) {
            let encoded = batch
                .iter()
                .map(|range| encode_chunk(parts, range))
                .collect::<Result<Vec<_>, _>>()?;
            writer.write(encoded).await?;
        }
        writer.finish().await
    }

    /// The register from its newest image and the changes after it (see [`ImageRead`]), in
    /// one snapshot, the chunks decoded on blocking threads while the next are read.
    pub async fn read_register_image(&self) -> Result<ImageRead, StoreError> {
        let mut tx = self.read().await?;
        tx.page_cache(crate::register::SCAN_CACHE_KIB).await?;
        let read = tx.read_image().await;
        tx.page_cache(crate::PAGE_CACHE_KIB).await?;
        tx.rollback().await?;
        read
    }
}

impl ImageWriter<'_> {
    /// Stores `chunks`, the next of the image, in one transaction. Two servers writing the
    /// image of one version write the same chunks: the second's are let go.
    pub async fn write(&mut self, chunks: Vec<EncodedChunk>) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for chunk in chunks {
            sqlx::query(
                "INSERT INTO register_image_chunks (format, version, seq, kind, data) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(image_format())
            .bind(self.version)
            .bind(self.written)
            .bind(chunk.kind.as_str())
            .bind(chunk.data)
            .execute(&mut *tx.inner)
            .await?;
            self.written += 1;
        }
        self.commit(tx).await
    }

    /// A transaction of the image's writes, on a connection with a small page cache: the
    /// image's pages are written once, and would otherwise fill the connection's 64 MiB.
    async fn begin(&self) -> Result<Tx, StoreError> {
        let mut tx = self.store.begin().await?;
        tx.page_cache(crate::register::SCAN_CACHE_KIB).await?;
        Ok(tx)
    }

    /// Commits `tx` and gives its connection back its usual page cache.
    async fn commit(&self, mut tx: Tx) -> Result<(), StoreError> {
        tx.page_cache(crate::PAGE_CACHE_KIB).await?;
        tx.commit().await
    }

    /// Makes the image readable, and drops every older one and every one of another format
    /// (an older program's images are of no use once a newer program writes its own): their
    /// rows at once, their chunks a few a transaction after.
    pub async fn finish(self) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO register_images (format, version, chunks) VALUES ($1, $2, $3) \
             ON CONFLICT (format, version) DO UPDATE SET chunks = excluded.chunks",
        )
        .bind(image_format())
        .bind(self.version)
        .bind(self.written)
        .execute(&mut *tx.inner)
        .await?;
        sqlx::query("DELETE FROM register_images WHERE version < $1 OR format <> $2")
            .bind(self.version)
            .bind(image_format())
            .execute(&mut *tx.inner)
            .await?;
        tx.commit().await?;
        self.delete_chunks("version < $1 OR format <> $2").await
    }

    /// Drops the chunks written so far (the register moved on before the image was whole).
    pub async fn discard(self) -> Result<(), StoreError> {
        self.discard_chunks().await
    }

    /// The chunks of this image, unless it was finished (by another server, of the same
    /// register at the same version).
    async fn discard_chunks(&self) -> Result<(), StoreError> {
        self.delete_chunks(
            "format = $2 AND version = $1 AND NOT EXISTS \
             (SELECT 1 FROM register_images i WHERE i.format = $2 AND i.version = $1)",
        )
        .await
    }

    /// Deletes the chunks that `condition` (of `$1`, this image's version, and `$2`, its
    /// format) selects, a few a transaction: each is overwritten as it is deleted
    /// (`secure_delete`, an image holds what the register held), and the database's writer
    /// is held meanwhile; all at once, a million entries' image held it two seconds.
    async fn delete_chunks(&self, condition: &'static str) -> Result<(), StoreError> {
        loop {
            let mut tx = self.begin().await?;
            let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM register_image_chunks WHERE (format, version, seq) IN \
                 (SELECT format, version, seq FROM register_image_chunks WHERE {condition} \
                  LIMIT {CHUNKS_DELETED_A_TRANSACTION})"
            )))
            .bind(self.version)
            .bind(image_format())
            .execute(&mut *tx.inner)
            .await?
            .rows_affected();
            self.commit(tx).await?;
            if deleted == 0 {
                return Ok(());
            }
        }
    }
}

impl Tx {
    async fn read_image(&mut self) -> Result<ImageRead, StoreError> {
        let (current, _) = self.versions().await?;
        let newest = sqlx::query(
            "SELECT version, chunks FROM register_images WHERE format = $1 AND version <= $2 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(image_format())
        .bind(current as i64)
        .fetch_optional(&mut *self.inner)
        .await?;
        let Some(newest) = newest else {
            return Ok(ImageRead::Missing);
        };
        let version: i64 = newest.try_get(0)?;
        let chunks: i64 = newest.try_get(1)?;
        // The changes first: an image they cannot bring up to date is not decoded for nothing.
        let Some(changes) = self.register_changes_since(version as u64).await?.changes else {
            return Ok(ImageRead::Unusable(
                "the changes after it are no longer kept, or one was too large to list".to_owned(),
            ));
        };
        let mut parts = RegisterParts::default();
        let mut decoding = VecDeque::new();
        let mut read = 0;
        while read < chunks {
            let rows = sqlx::query(
                "SELECT seq, kind, data FROM register_image_chunks \
                 WHERE format = $1 AND version = $2 AND seq >= $3 ORDER BY seq LIMIT $4",
            )
            .bind(image_format())
            .bind(version)
            .bind(read)
            .bind(CHUNKS_A_QUERY)
            .fetch_all(&mut *self.inner)
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let seq: i64 = row.try_get(0)?;
                if seq != read {
                    return Ok(ImageRead::Unusable(format!("chunk {read} is missing")));
                }
                read += 1;
                decoding.push_back(tokio::task::spawn_blocking(move || {
                    let kind: &str = row.try_get(1).map_err(|e| e.to_string())?;
                    let data: &[u8] = row.try_get(2).map_err(|e| e.to_string())?;
                    decode(kind, data)
                }));
            }
            while decoding.len() > CHUNKS_IN_FLIGHT
                && let Some(oldest) = decoding.pop_front()
            {
                if let Err(reason) = add(&mut parts, oldest.await) {
                    return Ok(ImageRead::Unusable(reason));
                }
            }
        }
        while let Some(oldest) = decoding.pop_front() {
            if let Err(reason) = add(&mut parts, oldest.await) {
                return Ok(ImageRead::Unusable(reason));
            }
        }
        if read != chunks {
            return Ok(ImageRead::Unusable(format!(
                "{read} chunks of the {chunks} the image has"
            )));
        }
        // In id order as written (from a register); `Register::new` sorts what is not.
        Ok(ImageRead::Read {
            version: version as u64,
            parts,
            changes,
        })
    }
}

/// Adds a decoded chunk's entries to `parts`; the reason when the chunk could not be decoded.
fn add(
    parts: &mut RegisterParts,
    decoded: Result<Result<Decoded, String>, tokio::task::JoinError>,
) -> Result<(), String> {
    match decoded.map_err(|e| e.to_string())?? {
        Decoded::Organisations(entries) => parts.organisations.extend(entries),
        Decoded::Activities(entries) => parts.activities.extend(entries),
        Decoded::Contracts(entries) => parts.contracts.extend(entries),
        Decoded::Engagements(entries) => parts.engagements.extend(entries),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chunk of `parts` encoded and decoded back.
    fn round_trip(parts: &RegisterParts) -> RegisterParts {
        let mut back = RegisterParts::default();
        for range in image_chunks(parts) {
            let chunk = encode_chunk(parts, &range).unwrap();
            add(&mut back, Ok(decode(chunk.kind.as_str(), &chunk.data))).unwrap();
        }
        back
    }

    #[test]
    fn the_worked_examples_and_a_large_register_read_back_whole() {
        let examples = custos_core::manifest::parse(&custos_core::manifest::examples::sources())
            .unwrap()
            .into_parts();
        assert!(round_trip(&examples) == examples);
        let shape = custos_core::synthetic::Shape {
            contracts: true,
            ..custos_core::synthetic::Shape::SMALL
        };
        let large = custos_core::synthetic::generate(shape);
        assert!(
            large.engagements.len() > CHUNK_ENTRIES,
            "several chunks of links"
        );
        assert!(round_trip(&large) == large);
    }

    #[test]
    fn a_chunk_of_one_kind_is_not_read_as_another() {
        let examples = custos_core::manifest::parse(&custos_core::manifest::examples::sources())
            .unwrap()
            .into_parts();
        let range = image_chunks(&examples)
            .into_iter()
            .find(|range| range.kind == EntityKind::Contract)
            .unwrap();
        let chunk = encode_chunk(&examples, &range).unwrap();
        assert!(decode("engagement", &chunk.data).is_err());
        assert!(decode("organisation", &chunk.data).is_err());
    }
}
