//! The typed documents of domain version 1 (SPEC 3): the fields a real deployment server keeps.
//!
//! These types check shapes and give documents their canonical field order; everything the engine
//! does with documents is driven by the declarations in [`crate::collections`]. References are
//! written as the natural key of the document they name.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::path::JsonPath;
use crate::sensitive::{PropertyValue, Sensitive};
use crate::shape::{Document, ShapeError};

/// A UTC timestamp, RFC 3339 with millisecond precision: `2026-01-31T12:00:00.000Z`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Timestamp(String);

impl Timestamp {
    /// The timestamp of a moment given in milliseconds since the Unix epoch.
    pub fn from_unix_millis(ms: i64) -> Timestamp {
        const DAY: i64 = 86_400_000;
        // Howard Hinnant's `civil_from_days`.
        let z = ms.div_euclid(DAY) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let of_day = ms.rem_euclid(DAY);
        Timestamp(format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            of_day / 3_600_000,
            of_day / 60_000 % 60,
            of_day / 1_000 % 60,
            of_day % 1_000
        ))
    }

    /// The current time.
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Timestamp::from_unix_millis(ms)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        let ok = b.len() == 24
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[19] == b'.'
            && digits(20..23)
            && b[23] == b'Z';
        let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap_or(0);
        if ok
            && (1..=12).contains(&number(5..7))
            && (1..=31).contains(&number(8..10))
            && number(11..13) < 24
            && number(14..16) < 60
            && number(17..19) < 60
        {
            Ok(Timestamp(text.to_owned()))
        } else {
            Err(format!(
                "{text:?} is not a UTC timestamp in the form 2026-01-31T12:00:00.000Z"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> i64 {
        let number = |r: std::ops::Range<usize>| self.0[r].parse::<i64>().unwrap_or(0);
        let (y, m, d) = (number(0..4), number(5..7), number(8..10));
        // Howard Hinnant's `days_from_civil`.
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400_000
            + number(11..13) * 3_600_000
            + number(14..16) * 60_000
            + number(17..19) * 1_000
            + number(20..23)
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::Timestamp;

    #[test]
    fn milliseconds_round_trip() {
        for ms in [0, 1, 951_782_400_000, 1_767_225_599_999, 4_102_444_800_123] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(t.unix_millis(), ms, "{}", t.as_str());
        }
        assert_eq!(
            Timestamp::parse("2026-12-05T04:00:00.000Z")
                .unwrap()
                .unix_millis(),
            1_796_443_200_000
        );
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Timestamp::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Infrastructure

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sort_order: i32,
    #[serde(default)]
    pub use_guided_failure: bool,
    #[serde(default)]
    pub allow_dynamic_infrastructure: bool,
}
impl Document for Environment {}

/// Whether a target or an account takes part in tenanted deployments.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum TenantedDeploymentParticipation {
    #[default]
    Untenanted,
    Tenanted,
    TenantedOrUntenanted,
}

/// How Cuttle reaches a deployment target; the kind decides the fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Endpoint {
    ListeningTentacle {
        uri: String,
        thumbprint: String,
    },
    PollingTentacle {
        uri: String,
        thumbprint: String,
    },
    Ssh {
        host: String,
        port: u16,
        fingerprint: String,
        account: String,
    },
    KubernetesCluster {
        cluster_url: String,
        #[serde(default)]
        namespace: String,
        account: Option<String>,
        cluster_certificate: Option<String>,
        #[serde(default)]
        skip_tls_verification: bool,
    },
    AzureWebApp {
        account: String,
        resource_group: String,
        web_app_name: String,
    },
    OfflineDrop {
        drop_folder_path: String,
        sensitive_variables_encryption_password: Option<Sensitive>,
    },
    CloudRegion {},
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub environments: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub tenanted_deployment_participation: TenantedDeploymentParticipation,
    #[serde(default)]
    pub is_disabled: bool,
    pub endpoint: Endpoint,
}
impl Document for Machine {
    fn check(&self) -> Result<(), ShapeError> {
        non_empty(
            &self.environments,
            "environments",
            "a deployment target belongs to at least one environment",
        )
    }
}

/// An account's credentials; the kind decides which secrets it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Credentials {
    UsernamePassword {
        username: String,
        password: Option<Sensitive>,
    },
    Token {
        token: Option<Sensitive>,
    },
    AmazonWebServices {
        access_key: String,
        secret_key: Option<Sensitive>,
    },
    AzureServicePrincipal {
        subscription_number: String,
        client_id: String,
        tenant_id: String,
        password: Option<Sensitive>,
    },
    SshKeyPair {
        username: String,
        private_key_file: Option<Sensitive>,
        private_key_passphrase: Option<Sensitive>,
    },
    GoogleCloud {
        json_key: Option<Sensitive>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub tenanted_deployment_participation: TenantedDeploymentParticipation,
    pub credentials: Credentials,
}
impl Document for Account {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    pub name: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub tenanted_deployment_participation: TenantedDeploymentParticipation,
    pub certificate_data: Option<Sensitive>,
    #[serde(default)]
    pub password: Option<Sensitive>,
    #[serde(default)]
    pub thumbprint: String,
    #[serde(default)]
    pub subject_distinguished_name: String,
    pub not_after: Option<Timestamp>,
}
impl Document for Certificate {}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum FeedType {
    BuiltIn,
    NuGet,
    Docker,
    Maven,
    GitHub,
    Helm,
    Npm,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Feed {
    pub name: String,
    pub feed_type: FeedType,
    #[serde(default)]
    pub feed_uri: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Sensitive>,
    #[serde(default = "default_download_attempts")]
    pub download_attempts: u32,
    #[serde(default = "default_backoff")]
    pub download_retry_backoff_seconds: u32,
}
fn default_download_attempts() -> u32 {
    5
}
fn default_backoff() -> u32 {
    10
}
impl Document for Feed {}

// ---------------------------------------------------------------------------------------------
// Library

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum RetentionUnit {
    Days,
    Items,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionPolicy {
    pub unit: RetentionUnit,
    pub quantity_to_keep: u32,
    #[serde(default)]
    pub should_keep_forever: bool,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            unit: RetentionUnit::Days,
            quantity_to_keep: 0,
            should_keep_forever: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Phase {
    pub name: String,
    #[serde(default)]
    pub automatic_deployment_targets: Vec<String>,
    #[serde(default)]
    pub optional_deployment_targets: Vec<String>,
    #[serde(default)]
    pub minimum_environments_before_promotion: u32,
    #[serde(default)]
    pub is_optional_phase: bool,
    #[serde(default)]
    pub release_retention_policy: Option<RetentionPolicy>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub release_retention_policy: RetentionPolicy,
    #[serde(default)]
    pub tentacle_retention_policy: RetentionPolicy,
    pub phases: Vec<Phase>,
}
impl Document for Lifecycle {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectGroup {
    pub name: String,
    #[serde(default)]
    pub description: String,
}
impl Document for ProjectGroup {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tag {
    pub name: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagSet {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sort_order: i32,
    pub tags: Vec<Tag>,
}
impl Document for TagSet {
    fn check(&self) -> Result<(), ShapeError> {
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.name.contains('/') {
                return Err(ShapeError::new(
                    JsonPath::root().field("tags").index(i).field("name"),
                    "a tag name cannot contain '/', which separates tag set and tag in `Set/Tag` references",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum ScriptSyntax {
    PowerShell,
    Bash,
    Python,
    CSharp,
    FSharp,
}

/// A script kept inside a step template or an action.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InlineScript {
    pub syntax: ScriptSyntax,
    pub body: String,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum ControlType {
    SingleLineText,
    MultiLineText,
    Checkbox,
    Select,
    Sensitive,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateParameter {
    pub name: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub help_text: String,
    pub control_type: ControlType,
    #[serde(default)]
    pub default_value: Option<PropertyValue>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepTemplate {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub action_type: String,
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub parameters: Vec<TemplateParameter>,
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
    #[serde(default)]
    pub script: Option<InlineScript>,
}
impl Document for StepTemplate {
    fn check(&self) -> Result<(), ShapeError> {
        for (i, p) in self.parameters.iter().enumerate() {
            let sensitive_control = matches!(p.control_type, ControlType::Sensitive);
            let mismatch = match &p.default_value {
                None => false,
                Some(PropertyValue::Sensitive(_)) => !sensitive_control,
                Some(PropertyValue::Text(_)) => sensitive_control,
            };
            if mismatch {
                return Err(ShapeError::new(
                    JsonPath::root()
                        .field("parameters")
                        .index(i)
                        .field("defaultValue"),
                    "a parameter whose controlType is Sensitive takes a sensitive default value (or null), and only it does",
                ));
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Variables

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariableType {
    String,
    Sensitive,
    Certificate,
    AmazonWebServicesAccount,
    AzureAccount,
    GoogleCloudAccount,
    UsernamePasswordAccount,
    TokenAccount,
}

/// The variable types whose value names an account.
pub const ACCOUNT_VARIABLE_TYPES: &[&str] = &[
    "AmazonWebServicesAccount",
    "AzureAccount",
    "GoogleCloudAccount",
    "UsernamePasswordAccount",
    "TokenAccount",
];
/// The variable types whose value names a certificate.
pub const CERTIFICATE_VARIABLE_TYPES: &[&str] = &["Certificate"];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prompt {
    pub label: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
}

/// Where a library variable applies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LibraryScope {
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub machines: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
}

/// Where a project variable applies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectScope {
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub machines: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub steps: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variable<Scope> {
    pub name: String,
    pub value: Option<PropertyValue>,
    #[serde(rename = "type")]
    pub kind: VariableType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub prompt: Option<Prompt>,
    #[serde(default)]
    pub scope: Scope,
}

/// A variable alone: what a variable set's shape checks of each of its variables.
impl<S: Serialize + DeserializeOwned + Default> Document for Variable<S> {
    fn check(&self) -> Result<(), ShapeError> {
        // `null` is "no value", for any type.
        let sensitive_value = match &self.value {
            None => self.kind == VariableType::Sensitive,
            Some(value) => matches!(value, PropertyValue::Sensitive(_)),
        };
        if sensitive_value != (self.kind == VariableType::Sensitive) {
            return Err(ShapeError::new(
                JsonPath::root().field("value"),
                "a variable of type Sensitive holds a sensitive value ({\"secret\": …}, {\"masked\": true}, {\"encrypted\": …} or null), and only such a variable does",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(ShapeError::new(
                JsonPath::root().field("name"),
                "a variable needs a name",
            ));
        }
        Ok(())
    }
}

/// Checks each element of the array `field` alone (an array declared as a collection's
/// [`Elements`](crate::decl::Elements) is checked no other way).
fn check_each<T: Document>(field: &str, elements: &[T]) -> Result<(), ShapeError> {
    for (i, element) in elements.iter().enumerate() {
        element
            .check()
            .map_err(|e| e.under(JsonPath::root().field(field).index(i)))?;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LibraryVariableSet {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub variables: Vec<Variable<LibraryScope>>,
}
impl Document for LibraryVariableSet {
    fn check(&self) -> Result<(), ShapeError> {
        check_each("variables", &self.variables)
    }
}

// ---------------------------------------------------------------------------------------------
// Projects and their parts

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum TenantedDeploymentMode {
    #[default]
    Untenanted,
    Tenanted,
    TenantedOrUntenanted,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Project {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub project_group: String,
    pub lifecycle: String,
    #[serde(default)]
    pub included_library_variable_sets: Vec<String>,
    #[serde(default)]
    pub is_disabled: bool,
    #[serde(default)]
    pub tenanted_deployment_mode: TenantedDeploymentMode,
    #[serde(default)]
    pub discrete_channel_release: bool,
    #[serde(default)]
    pub default_guided_failure: bool,
    #[serde(default = "default_version_template")]
    pub release_version_template: String,
}
fn default_version_template() -> String {
    "#{Cuttle.Version.LastMajor}.#{Cuttle.Version.LastMinor}.#{Cuttle.Version.NextPatch}".to_owned()
}
impl Document for Project {}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum StepCondition {
    #[default]
    Success,
    Failure,
    Always,
    Variable,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum StartTrigger {
    #[default]
    StartAfterPrevious,
    StartWithPrevious,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum PackageRequirement {
    #[default]
    LetCuttleDecide,
    BeforePackageAcquisition,
    AfterPackageAcquisition,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub enum AcquisitionLocation {
    #[default]
    Server,
    ExecutionTarget,
    NotAcquired,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PackageReference {
    #[serde(default)]
    pub name: String,
    pub package_id: String,
    pub feed: String,
    #[serde(default)]
    pub acquisition_location: AcquisitionLocation,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub action_type: String,
    #[serde(default)]
    pub is_disabled: bool,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub step_template: Option<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub excluded_environments: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub packages: Vec<PackageReference>,
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
    #[serde(default)]
    pub script: Option<InlineScript>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub condition: StepCondition,
    #[serde(default)]
    pub condition_expression: Option<String>,
    #[serde(default)]
    pub start_trigger: StartTrigger,
    #[serde(default)]
    pub package_requirement: PackageRequirement,
    #[serde(default)]
    pub target_roles: Vec<String>,
    #[serde(default)]
    pub properties: BTreeMap<String, PropertyValue>,
    pub actions: Vec<Action>,
}

/// The property key under which an action names the account it uses.
pub const ACCOUNT_PROPERTY: &str = "Cuttle.Action.Account";
/// The property key under which an action names the certificate it uses.
pub const CERTIFICATE_PROPERTY: &str = "Cuttle.Action.Certificate";

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentProcess {
    pub project: String,
    pub steps: Vec<Step>,
}
impl Document for DeploymentProcess {
    fn check(&self) -> Result<(), ShapeError> {
        check_each("steps", &self.steps)
    }
}

/// A step alone: what a process's shape checks of each of its steps.
impl Document for Step {
    fn check(&self) -> Result<(), ShapeError> {
        if self.actions.is_empty() {
            return Err(ShapeError::new(
                JsonPath::root().field("actions"),
                "a step needs at least one action",
            ));
        }
        if matches!(self.condition, StepCondition::Variable) != self.condition_expression.is_some()
        {
            return Err(ShapeError::new(
                JsonPath::root().field("conditionExpression"),
                "a step whose condition is Variable needs a conditionExpression, and only such a step has one",
            ));
        }
        for (j, action) in self.actions.iter().enumerate() {
            for key in [ACCOUNT_PROPERTY, CERTIFICATE_PROPERTY] {
                if let Some(PropertyValue::Sensitive(_)) = action.properties.get(key) {
                    return Err(ShapeError::new(
                        JsonPath::root()
                            .field("actions")
                            .index(j)
                            .field("properties")
                            .field(key),
                        "this property names a document and cannot be sensitive",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelRule {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub version_range: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Channel {
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub lifecycle: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub rules: Vec<ChannelRule>,
}
impl Document for Channel {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectVariables {
    pub project: String,
    pub variables: Vec<Variable<ProjectScope>>,
}
impl Document for ProjectVariables {
    fn check(&self) -> Result<(), ShapeError> {
        check_each("variables", &self.variables)
    }
}

/// What starts a trigger.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum TriggerFilter {
    Schedule {
        cron: String,
        timezone: String,
    },
    MachineCreated {
        #[serde(default)]
        environments: Vec<String>,
        #[serde(default)]
        roles: Vec<String>,
    },
}

/// What a trigger does.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum TriggerAction {
    DeployLatestRelease {
        source_environments: Vec<String>,
        destination_environment: String,
        channel: Option<String>,
    },
    CreateRelease {
        channel: Option<String>,
    },
    AutoDeploy {
        should_redeploy: bool,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    pub project: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub is_disabled: bool,
    pub filter: TriggerFilter,
    pub action: TriggerAction,
}
impl Document for Trigger {}

// ---------------------------------------------------------------------------------------------
// Tenants

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectConnection {
    pub project: String,
    pub environments: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantVariable {
    pub name: String,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    pub value: Option<PropertyValue>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenant {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tenant_tags: Vec<String>,
    #[serde(default)]
    pub projects: Vec<ProjectConnection>,
    #[serde(default)]
    pub variables: Vec<TenantVariable>,
}
impl Document for Tenant {
    fn check(&self) -> Result<(), ShapeError> {
        check_each("variables", &self.variables)
    }
}

/// A tenant variable alone: what a tenant's shape checks of each of its variables.
impl Document for TenantVariable {
    fn check(&self) -> Result<(), ShapeError> {
        if self.environment.is_some() && self.project.is_none() {
            return Err(ShapeError::new(
                JsonPath::root().field("environment"),
                "a tenant variable scoped to an environment belongs to a project",
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// People

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub username: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub email_address: String,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub is_service: bool,
}
fn yes() -> bool {
    true
}
impl Document for User {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRole {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub permissions: Vec<crate::access::Permission>,
}
impl Document for UserRole {}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleAssignment {
    pub user_role: String,
    #[serde(default)]
    pub projects: Vec<String>,
    #[serde(default)]
    pub project_groups: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Team {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub members: Vec<String>,
    #[serde(default)]
    pub role_assignments: Vec<RoleAssignment>,
}
impl Document for Team {}

// ---------------------------------------------------------------------------------------------
// History

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SelectedPackage {
    pub action_name: String,
    #[serde(default)]
    pub package_reference_name: String,
    pub feed: String,
    pub package_id: String,
    pub version: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    pub project: String,
    pub version: String,
    pub channel: String,
    #[serde(default)]
    pub release_notes: String,
    pub assembled: Timestamp,
    #[serde(default)]
    pub selected_packages: Vec<SelectedPackage>,
    #[serde(default)]
    pub library_variable_sets: Vec<String>,
}
impl Document for Release {}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum TaskState {
    Queued,
    Executing,
    Success,
    Failed,
    Canceled,
    TimedOut,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    pub project: String,
    pub release: String,
    pub environment: String,
    pub tenant: Option<String>,
    pub number: u32,
    pub state: TaskState,
    pub queued: Timestamp,
    pub started: Option<Timestamp>,
    pub completed: Option<Timestamp>,
    /// The username of who deployed; not a reference (users come and go, history stays).
    #[serde(default)]
    pub deployed_by: String,
    #[serde(default)]
    pub comments: String,
}
impl Document for Deployment {
    fn check(&self) -> Result<(), ShapeError> {
        if self.number == 0 {
            return Err(ShapeError::new(
                JsonPath::root().field("number"),
                "deployment numbers start at 1",
            ));
        }
        Ok(())
    }
}

/// Names a deployment of the same project by its natural key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentKey {
    pub release: String,
    pub environment: String,
    pub tenant: Option<String>,
    pub number: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskLog {
    pub project: String,
    pub deployment: DeploymentKey,
    pub log: String,
}
impl Document for TaskLog {}

fn non_empty(list: &[String], field: &str, message: &str) -> Result<(), ShapeError> {
    if list.is_empty() {
        Err(ShapeError::new(JsonPath::root().field(field), message))
    } else {
        Ok(())
    }
}
