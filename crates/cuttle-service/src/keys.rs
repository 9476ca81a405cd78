//! API keys (SPEC 9): made for a user, shown once, kept only as a hash, instance-local (an
//! instance record: never exported, never in a backup or a plan).
//!
//! A key is `cuttle_` and 43 characters of base64url (256 random bits). What the instance keeps
//! is the SHA-256 of the key (hex; a key has too much entropy for a slow hash to add anything),
//! the user's document id (so that renaming the user keeps the key, and deleting the user kills
//! it), when it was made, when it expires, whether it only reads, and when it was revoked.
//! Authentication refuses a key it does not know, a revoked or expired one, and one whose user
//! is gone or not active, all with the same message.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cuttle_domain::Collection;
use cuttle_domain::access::Permission;
use cuttle_domain::documents::Timestamp;
use cuttle_instance::documents;
use cuttle_store::{ReadTxn, RecordKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Session;
use crate::access::{Access, Actor};
use crate::audit::{Audit, Outcome};
use crate::error::{Error, ErrorKind, Result};

/// What every key starts with (so that scanners and people recognise one).
pub const PREFIX: &str = "cuttle_";

/// `cuttle api-key create`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreate {
    pub instance: String,
    /// The user the key acts as.
    pub user: String,
    /// When it stops working (none: never).
    pub expires: Option<Timestamp>,
    /// Whether it may only read.
    pub read_only: bool,
}

/// What an instance keeps of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// The user's document id.
    user: i64,
    /// The first characters of the key, to tell keys apart (`cuttle_AbCd`).
    shown: String,
    created: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<Timestamp>,
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked: Option<Timestamp>,
}

/// A key, as `api-key list` shows it (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyInfo {
    pub id: i64,
    /// The user it acts as (absent when that user was deleted).
    pub user: Option<String>,
    /// Its first characters.
    pub shown: String,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
    pub read_only: bool,
    pub revoked: Option<Timestamp>,
}

/// A key just made: the only time its secret is seen.
pub struct ApiKeyCreated {
    pub info: ApiKeyInfo,
    pub key: Zeroizing<String>,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn user_id(txn: &mut dyn ReadTxn, username: &str) -> Result<i64> {
    let found = documents::find(
        txn,
        &documents::Address {
            collection: Collection::Users,
            project: None,
            key: Some(username),
        },
    )
    .map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "there is no user named {}",
                cuttle_domain::names::quoted(username)
            ),
        )
    })?;
    Ok(found.id)
}

fn username_of(txn: &mut dyn ReadTxn, id: i64) -> Result<Option<String>> {
    match txn.get(id)? {
        Some(doc) if doc.collection == Collection::Users => Ok(documents::show(txn, &doc)?
            .get("username")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)),
        _ => Ok(None),
    }
}

fn info(txn: &mut dyn ReadTxn, id: i64, stored: Stored) -> Result<ApiKeyInfo> {
    Ok(ApiKeyInfo {
        id,
        user: username_of(txn, stored.user)?,
        shown: stored.shown,
        created: stored.created,
        expires: stored.expires,
        read_only: stored.read_only,
        revoked: stored.revoked,
    })
}

fn parse(body: &str) -> Result<Stored> {
    serde_json::from_str(body).map_err(|e| {
        Error::new(
            ErrorKind::Damaged,
            format!("an API key record is damaged: {e}"),
        )
    })
}

impl Session {
    /// Makes a key for a user; `access` must be allowed to manage users (`UserEdit`). The key
    /// is in the result, and nowhere else, ever.
    pub fn create_api_key(
        &mut self,
        request: &ApiKeyCreate,
        access: &Access,
    ) -> Result<ApiKeyCreated> {
        self.serves(&request.instance)?;
        access.require(Permission::UserEdit, "create API keys")?;
        let now = Timestamp::now();
        if let Some(expires) = &request.expires
            && expires.unix_millis() <= now.unix_millis()
        {
            return Err(Error::usage(format!(
                "the key would expire at {}, which has passed",
                expires.as_str()
            )));
        }
        let mut secret = [0u8; 32];
        cuttle_crypto::random_bytes(&mut secret)
            .map_err(|e| Error::new(ErrorKind::MasterKey, e.to_string()))?;
        let key = Zeroizing::new(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(secret)));
        zeroize::Zeroize::zeroize(&mut secret);
        let mut txn = self.instance.store().write()?;
        let user = user_id(&mut *txn, &request.user)?;
        let stored = Stored {
            user,
            shown: key[..PREFIX.len() + 4].to_owned(),
            created: now,
            expires: request.expires.clone(),
            read_only: request.read_only,
            revoked: None,
        };
        let body = serde_json::to_string(&stored).expect("a record serializes");
        let id = txn.insert_record(RecordKind::ApiKey, Some(&hash(&key)), &body)?;
        Audit::key(
            access.actor(),
            "api-key-create",
            &request.user,
            id,
            Outcome::Succeeded,
        )
        .write(&mut *txn)?;
        let info = info(&mut *txn, id, stored)?;
        txn.commit()?;
        Ok(ApiKeyCreated { info, key })
    }

    /// Every key (or a user's), newest first: never the keys themselves.
    pub fn api_keys(&mut self, user: Option<&str>, access: &Access) -> Result<Vec<ApiKeyInfo>> {
        access.require(Permission::UserView, "list API keys")?;
        let mut read = self.instance.store().read()?;
        let only = user.map(|u| user_id(&mut *read, u)).transpose()?;
        let mut out = Vec::new();
        let mut before = i64::MAX;
        loop {
            let page = read.records(RecordKind::ApiKey, before, 500, true)?;
            let Some(last) = page.last() else { break };
            before = last.id;
            for record in page {
                let stored = parse(&record.body)?;
                if only.is_none_or(|u| u == stored.user) {
                    out.push(info(&mut *read, record.id, stored)?);
                }
            }
        }
        Ok(out)
    }

    /// Revokes the key `id`: it stops working at once, and stays listed as revoked.
    pub fn revoke_api_key(&mut self, id: i64, access: &Access) -> Result<ApiKeyInfo> {
        access.require(Permission::UserEdit, "revoke API keys")?;
        let mut txn = self.instance.store().write()?;
        let found = txn
            .records(RecordKind::ApiKey, id - 1, 1, false)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("there is no API key {id}")))?;
        let mut stored = parse(&found.body)?;
        if stored.revoked.is_none() {
            stored.revoked = Some(Timestamp::now());
            let body = serde_json::to_string(&stored).expect("a record serializes");
            txn.update_record(RecordKind::ApiKey, id, &body)?;
            // Every server forgets what it knew of the key.
            documents::touch_access(&mut *txn)?;
        }
        let user = username_of(&mut *txn, stored.user)?.unwrap_or_default();
        Audit::key(
            access.actor(),
            "api-key-revoke",
            &user,
            id,
            Outcome::Succeeded,
        )
        .write(&mut *txn)?;
        let info = info(&mut *txn, id, stored)?;
        txn.commit()?;
        Ok(info)
    }

    /// The access of whoever holds `key`; [`ErrorKind::Unauthenticated`] for a key that is
    /// unknown, revoked or expired, or whose user is gone or not active (one message for all,
    /// which says nothing about which).
    pub fn authenticate(&mut self, key: &str) -> Result<Access> {
        let refused = || {
            Error::new(
                ErrorKind::Unauthenticated,
                "the API key is not valid: unknown, revoked, expired, or its user is not active",
            )
        };
        if !key.starts_with(PREFIX) || key.len() > 128 {
            return Err(refused());
        }
        let Session {
            instance, access, ..
        } = self;
        let hashed = hash(key);
        let now = Timestamp::now().unix_millis();
        // Known since the last write that could change it (a revocation, a user, a team, a
        // role): no more to read.
        access.sync_now(instance.store())?;
        if let Some(known) = access.key(&hashed, now) {
            return Ok(known);
        }
        let mut read = instance.store().read()?;
        access.sync(&mut *read)?;
        let record = read
            .record(RecordKind::ApiKey, &hashed)?
            .ok_or_else(refused)?;
        let stored = parse(&record.body)?;
        if stored.revoked.is_some()
            || stored
                .expires
                .as_ref()
                .is_some_and(|e| e.unix_millis() <= now)
        {
            return Err(refused());
        }
        let username = username_of(&mut *read, stored.user)?.ok_or_else(refused)?;
        let found = Session::access_in(
            &mut *read,
            access,
            &username,
            Some(record.id),
            stored.read_only,
        )
        .map_err(|e| match e.kind {
            ErrorKind::Unauthenticated => refused(),
            _ => e,
        })?;
        access.remember(
            hashed,
            found.clone(),
            stored.expires.as_ref().map(Timestamp::unix_millis),
        );
        Ok(found)
    }
}

/// `cuttle admin create`: the first administrator of an instance, in one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminCreate {
    pub instance: String,
    pub user: String,
    pub expires: Option<Timestamp>,
}

/// The role and the team `admin create` makes (or completes).
pub const ADMIN_ROLE: &str = "Administrator";
pub const ADMIN_TEAM: &str = "Administrators";

impl Session {
    /// Makes `user` an administrator and gives them an API key: the user (active) if missing,
    /// a user role holding `AdministerSystem` if missing, a team that assigns it without scope
    /// and has the user among its members; then a key, as [`Session::create_api_key`]. For the
    /// host's administrator (the command line); every write is in the audit log.
    pub fn create_admin(
        &mut self,
        request: &AdminCreate,
        access: &Access,
    ) -> Result<ApiKeyCreated> {
        self.serves(&request.instance)?;
        access.require(Permission::AdministerSystem, "make administrators")?;
        let decl = |c: Collection| c.decl();
        let mut docs = Vec::new();
        {
            let mut read = self.instance.store().read()?;
            let mut existing = |c: Collection, key: &str| {
                documents::find(
                    &mut *read,
                    &documents::Address {
                        collection: c,
                        project: None,
                        key: Some(key),
                    },
                )
                .ok()
                .map(|d| documents::show(&mut *read, &d))
                .transpose()
            };
            match existing(Collection::Users, &request.user)? {
                Some(user) if user.get("isActive").and_then(serde_json::Value::as_bool) == Some(false) => {
                    return Err(Error::usage(format!(
                        "the user {} is not active; activate them first (`cuttle doc get users …`, then `doc put`)",
                        cuttle_domain::names::quoted(&request.user)
                    )));
                }
                Some(_) => {}
                None => docs.push((
                    Collection::Users,
                    serde_json::json!({"username": request.user, "displayName": request.user, "isActive": true}),
                )),
            }
            match existing(Collection::UserRoles, ADMIN_ROLE)? {
                Some(role) => {
                    let holds = role
                        .get("permissions")
                        .and_then(serde_json::Value::as_array)
                        .is_some_and(|p| {
                            p.iter().any(|p| p == Permission::AdministerSystem.name())
                        });
                    if !holds {
                        return Err(Error::usage(format!(
                            "the user role {ADMIN_ROLE:?} exists and does not hold {}; give it that permission, or rename it",
                            Permission::AdministerSystem
                        )));
                    }
                }
                None => docs.push((
                    Collection::UserRoles,
                    serde_json::json!({
                        "name": ADMIN_ROLE,
                        "description": "Can do everything (made by `cuttle admin create`).",
                        "permissions": [Permission::AdministerSystem.name()],
                    }),
                )),
            }
            let assignment = serde_json::json!({"userRole": ADMIN_ROLE});
            let team = match existing(Collection::Teams, ADMIN_TEAM)? {
                Some(mut team) => {
                    let members = team["members"].as_array_mut().expect("a team's members");
                    if !members.iter().any(|m| m == &request.user) {
                        members.push(serde_json::Value::String(request.user.clone()));
                    }
                    let assignments = team["roleAssignments"].as_array_mut().expect("assignments");
                    let unscoped = assignments.iter().any(|a| {
                        a["userRole"] == ADMIN_ROLE
                            && ["projects", "projectGroups", "environments", "tenants"]
                                .iter()
                                .all(|f| a[f].as_array().is_none_or(Vec::is_empty))
                    });
                    if !unscoped {
                        assignments.push(assignment);
                    }
                    team
                }
                None => serde_json::json!({
                    "name": ADMIN_TEAM,
                    "description": "Administer the instance (made by `cuttle admin create`).",
                    "members": [request.user],
                    "roleAssignments": [assignment],
                }),
            };
            docs.push((Collection::Teams, team));
        }
        for (collection, value) in docs {
            let input = crate::DocumentInput {
                origin: format!("admin create ({})", decl(collection).name),
                text: Zeroizing::new(value.to_string()),
            };
            self.put_documents(
                &crate::request::DocPut {
                    instance: request.instance.clone(),
                    collection,
                    file: "-".into(),
                },
                &input,
                access,
                None,
            )?;
        }
        self.create_api_key(
            &ApiKeyCreate {
                instance: request.instance.clone(),
                user: request.user.clone(),
                expires: request.expires.clone(),
                read_only: false,
            },
            access,
        )
    }
}

/// Parses `--expires`: a duration from now (`90d`, `12h`, `30m`) or a moment (`2027-01-31`,
/// `2027-01-31T12:00:00.000Z`).
pub fn parse_expiry(text: &str) -> std::result::Result<Timestamp, String> {
    let text = text.trim();
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c)) {
        let number: i64 = text[..text.len() - 1]
            .parse()
            .map_err(|_| format!("{text:?} is not a duration such as 90d, 12h or 30m"))?;
        let ms = number
            .checked_mul(match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                _ => 86_400_000,
            })
            .filter(|ms| *ms > 0)
            .ok_or_else(|| format!("{text:?} is not a positive duration"))?;
        return Ok(Timestamp::from_unix_millis(
            Timestamp::now().unix_millis() + ms,
        ));
    }
    if text.len() == 10 {
        return Timestamp::parse(&format!("{text}T00:00:00.000Z"));
    }
    Timestamp::parse(text)
}

impl Actor {
    /// The API key an actor used, if any.
    pub fn api_key(&self) -> Option<i64> {
        match self {
            Actor::User { api_key, .. } => *api_key,
            Actor::Host { .. } => None,
        }
    }
}
