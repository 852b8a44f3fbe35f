//! Published notice versions (immutable, numbered per controller and notice name) and the
//! templates organisations wrote. Rows are parsed again on the way out: the database is an edge.

use custos_core::notice::{Notice, NoticeOptions, PublishedNotice};
use custos_core::values::Slug;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{StoreError, Tx};

/// A published version with who published it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNotice {
    pub key: String,
    pub published: PublishedNotice,
    pub published_at: String,
    pub published_by: String,
}

/// An organisation's own template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTemplate {
    pub organisation: String,
    pub name: String,
    pub language: String,
    pub body: String,
    pub updated_at: String,
    pub updated_by: String,
}

const NOTICE_COLUMNS: &str =
    "key, controller, name, version, language, options, content, published_at, published_by";

fn corrupt(slug: String, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "notice_versions",
        slug,
        reason: reason.to_string(),
    }
}

fn stored_notice(row: &AnyRow) -> Result<StoredNotice, StoreError> {
    let key: String = row.try_get(0)?;
    let controller: String = row.try_get(1)?;
    let name: String = row.try_get(2)?;
    let version: i64 = row.try_get(3)?;
    let options: String = row.try_get(5)?;
    let content: String = row.try_get(6)?;
    let label = format!("{controller}/{name}/{version}");
    let options: NoticeOptions =
        serde_json::from_str(&options).map_err(|e| corrupt(label.clone(), e))?;
    let notice: Notice = serde_json::from_str(&content).map_err(|e| corrupt(label.clone(), e))?;
    Ok(StoredNotice {
        key,
        published: PublishedNotice {
            controller: controller
                .parse::<Slug>()
                .map_err(|e| corrupt(label.clone(), e))?,
            name: name
                .parse::<Slug>()
                .map_err(|e| corrupt(label.clone(), e))?,
            version: u32::try_from(version).map_err(|e| corrupt(label.clone(), e))?,
            language: row.try_get(4)?,
            options,
            notice,
        },
        published_at: row.try_get(7)?,
        published_by: row.try_get(8)?,
    })
}

/// A notice about to be published; its version number is the store's to give.
#[derive(Debug, Clone, Copy)]
pub struct NewNoticeVersion<'a> {
    pub controller: &'a Slug,
    pub name: &'a Slug,
    pub language: &'a str,
    pub options: &'a NoticeOptions,
    pub notice: &'a Notice,
    pub published_at: &'a str,
    pub published_by: &'a str,
}

impl Tx {
    /// Stores the next version of the notice `name` of `controller`.
    pub async fn insert_notice_version(
        &mut self,
        new: NewNoticeVersion<'_>,
    ) -> Result<StoredNotice, StoreError> {
        let NewNoticeVersion {
            controller,
            name,
            language,
            options,
            notice,
            published_at,
            published_by,
        } = new;
        let last: Option<i64> = sqlx::query(
            "SELECT MAX(version) FROM notice_versions WHERE controller = $1 AND name = $2",
        )
        .bind(controller.to_string())
        .bind(name.to_string())
        .fetch_one(&mut *self.inner)
        .await?
        .try_get(0)?;
        let version = u32::try_from(last.unwrap_or(0) + 1).unwrap_or(u32::MAX);
        let key = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO notice_versions (key, controller, name, version, language, options, \
             content, published_at, published_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(key.clone())
        .bind(controller.to_string())
        .bind(name.to_string())
        .bind(i64::from(version))
        .bind(language.to_owned())
        .bind(json(options)?)
        .bind(json(notice)?)
        .bind(published_at.to_owned())
        .bind(published_by.to_owned())
        .execute(&mut *self.inner)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(format!(
                    "version {version} of notice {name} was published at the same time; try again"
                ))
            }
            other => other.into(),
        })?;
        Ok(StoredNotice {
            key,
            published: PublishedNotice {
                controller: controller.clone(),
                name: name.clone(),
                version,
                language: language.to_owned(),
                options: options.clone(),
                notice: notice.clone(),
            },
            published_at: published_at.to_owned(),
            published_by: published_by.to_owned(),
        })
    }

    /// Every published version of `controller`'s notices, by name then version.
    pub async fn notice_versions(
        &mut self,
        controller: &str,
    ) -> Result<Vec<StoredNotice>, StoreError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notice_versions WHERE controller = $1 ORDER BY name, version"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(controller.to_owned())
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(stored_notice)
            .collect()
    }

    pub async fn notice_version(
        &mut self,
        controller: &str,
        name: &str,
        version: u32,
    ) -> Result<Option<StoredNotice>, StoreError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notice_versions \
             WHERE controller = $1 AND name = $2 AND version = $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(controller.to_owned())
            .bind(name.to_owned())
            .bind(i64::from(version))
            .fetch_optional(&mut *self.inner)
            .await?
            .as_ref()
            .map(stored_notice)
            .transpose()
    }

    /// The latest version of every notice of every controller: what the checks judge.
    pub async fn latest_notices(&mut self) -> Result<Vec<PublishedNotice>, StoreError> {
        let sql = format!(
            "SELECT {NOTICE_COLUMNS} FROM notice_versions n WHERE version = \
             (SELECT MAX(version) FROM notice_versions m \
              WHERE m.controller = n.controller AND m.name = n.name) \
             ORDER BY controller, name"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.inner)
            .await?
            .iter()
            .map(|row| stored_notice(row).map(|s| s.published))
            .collect()
    }

    /// Sets (or replaces) an organisation's template.
    pub async fn put_template(&mut self, template: &StoredTemplate) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM templates WHERE organisation = $1 AND name = $2 AND language = $3",
        )
        .bind(template.organisation.clone())
        .bind(template.name.clone())
        .bind(template.language.clone())
        .execute(&mut *self.inner)
        .await?;
        sqlx::query(
            "INSERT INTO templates (organisation, name, language, body, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(template.organisation.clone())
        .bind(template.name.clone())
        .bind(template.language.clone())
        .bind(template.body.clone())
        .bind(template.updated_at.clone())
        .bind(template.updated_by.clone())
        .execute(&mut *self.inner)
        .await?;
        Ok(())
    }

    pub async fn template(
        &mut self,
        organisation: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<StoredTemplate>, StoreError> {
        let row = sqlx::query(
            "SELECT organisation, name, language, body, updated_at, updated_by FROM templates \
             WHERE organisation = $1 AND name = $2 AND language = $3",
        )
        .bind(organisation.to_owned())
        .bind(name.to_owned())
        .bind(language.to_owned())
        .fetch_optional(&mut *self.inner)
        .await?;
        row.as_ref().map(stored_template).transpose()
    }

    pub async fn templates_of(
        &mut self,
        organisation: &str,
    ) -> Result<Vec<StoredTemplate>, StoreError> {
        sqlx::query(
            "SELECT organisation, name, language, body, updated_at, updated_by FROM templates \
             WHERE organisation = $1 ORDER BY name, language",
        )
        .bind(organisation.to_owned())
        .fetch_all(&mut *self.inner)
        .await?
        .iter()
        .map(stored_template)
        .collect()
    }

    /// Every organisation's templates.
    pub async fn all_templates(&mut self) -> Result<Vec<StoredTemplate>, StoreError> {
        sqlx::query(
            "SELECT organisation, name, language, body, updated_at, updated_by FROM templates \
             ORDER BY organisation, name, language",
        )
        .fetch_all(&mut *self.inner)
        .await?
        .iter()
        .map(stored_template)
        .collect()
    }

    /// Removes an organisation's template (the built-in one applies again); whether it existed.
    pub async fn delete_template(
        &mut self,
        organisation: &str,
        name: &str,
        language: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM templates WHERE organisation = $1 AND name = $2 AND language = $3",
        )
        .bind(organisation.to_owned())
        .bind(name.to_owned())
        .bind(language.to_owned())
        .execute(&mut *self.inner)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| corrupt("new version".to_owned(), e))
}

fn stored_template(row: &AnyRow) -> Result<StoredTemplate, StoreError> {
    Ok(StoredTemplate {
        organisation: row.try_get(0)?,
        name: row.try_get(1)?,
        language: row.try_get(2)?,
        body: row.try_get(3)?,
        updated_at: row.try_get(4)?,
        updated_by: row.try_get(5)?,
    })
}
