//! Script bodies of step templates and inline-script actions: short, but what people really write.

pub(crate) const SMOKE_TEST: &str = r##"#!/usr/bin/env bash
set -euo pipefail
url="#{Smoke.Url}"
for attempt in $(seq 1 #{Smoke.Attempts}); do
  status=$(curl --silent --output /dev/null --write-out '%{http_code}' "$url" || true)
  if [ "$status" = "#{Smoke.ExpectedStatus}" ]; then
    echo "Smoke test passed after $attempt attempt(s)"
    exit 0
  fi
  echo "Got HTTP $status from $url, retrying in 6 seconds"
  sleep 6
done
echo "Smoke test failed: $url never returned #{Smoke.ExpectedStatus}" >&2
exit 1
"##;

pub(crate) const NOTIFY_SLACK: &str = r##"#!/usr/bin/env bash
set -euo pipefail
payload=$(jq --null-input --arg channel "#{Slack.Channel}" --arg text "#{Slack.Message}" \
  '{channel: $channel, text: $text}')
curl --fail --silent --show-error -X POST -H 'Content-Type: application/json' \
  --data "$payload" "#{Slack.WebhookUrl}"
"##;

pub(crate) const CHECK_DISK: &str = r##"$minimum = [int]"#{Disk.MinimumFreeGb}"
foreach ($drive in "#{Disk.Drives}".Split(',')) {
    $free = (Get-PSDrive $drive.Trim().TrimEnd(':')).Free / 1GB
    Write-Host ("Drive {0} has {1:N1} GB free" -f $drive, $free)
    if ($free -lt $minimum) {
        if ("#{Disk.FailOnWarning}" -eq "True") { throw "Drive $drive has less than $minimum GB free" }
        Write-Warning "Drive $drive has less than $minimum GB free"
    }
}
"##;

pub(crate) const MIGRATIONS: &str = r##"$ErrorActionPreference = "Stop"
Write-Host "Applying migrations from #{Db.MigrationsPath}"
& dotnet ef database update --project "#{Db.MigrationsPath}" --connection "#{Db.ConnectionString}"
if ($LASTEXITCODE -ne 0) { throw "Migrations failed with exit code $LASTEXITCODE" }
Write-Host "Database is up to date"
"##;

pub(crate) const FLUSH_CDN: &str = r##"import json
import urllib.request

zone = "#{Cdn.ZoneId}"
request = urllib.request.Request(
    f"https://api.cdn.example.net/zones/{zone}/purge",
    data=json.dumps({"purge_everything": True}).encode(),
    headers={"Authorization": "Bearer #{Cdn.ApiToken}", "Content-Type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request, timeout=30) as response:
    print(f"CDN purge for zone {zone}: HTTP {response.status}")
"##;

pub(crate) const JIRA_RELEASE: &str = r##"using System.Net.Http;
using System.Text;

var client = new HttpClient { BaseAddress = new Uri(Cuttle.Parameters["Jira.Url"]) };
client.DefaultRequestHeaders.Add("Authorization", "Bearer " + Cuttle.Parameters["Jira.ApiToken"]);
var body = $"{{\"name\": \"{Cuttle.Parameters["Cuttle.Release.Number"]}\", \"project\": \"{Cuttle.Parameters["Jira.ProjectKey"]}\"}}";
var response = await client.PostAsync("/rest/api/3/version", new StringContent(body, Encoding.UTF8, "application/json"));
response.EnsureSuccessStatusCode();
Console.WriteLine($"Created Jira version {Cuttle.Parameters["Cuttle.Release.Number"]}");
"##;

pub(crate) const METRICS: &str = r##"open System
let started = DateTime.Parse(Cuttle.Parameters.["Cuttle.Deployment.Created"])
let minutes = (DateTime.UtcNow - started).TotalMinutes
printfn "Deployment of %s took %.1f minutes" Cuttle.Parameters.["Cuttle.Project.Name"] minutes
Cuttle.SetVariable("DeploymentMinutes", string minutes)
"##;

pub(crate) const WARM_UP: &str = r##"#!/usr/bin/env bash
set -uo pipefail
while read -r url; do
  [ -z "$url" ] && continue
  for i in $(seq 1 #{WarmUp.Requests}); do
    curl --silent --output /dev/null --max-time 30 "$url"
  done
  echo "Warmed up $url"
done <<< "#{WarmUp.Urls}"
"##;

pub(crate) const PREVIEW_FEATURES: &str = r##"#!/usr/bin/env bash
set -euo pipefail
echo "Enabling preview features for #{Cuttle.Environment.Name}"
curl --fail --silent -X PUT "#{Web.BaseUrl}/admin/features/preview" \
  -H "Authorization: Bearer #{Api.Key}" --data '{"enabled": true}'
"##;

pub(crate) const CANARY_ANALYSIS: &str = r##"#!/usr/bin/env bash
set -euo pipefail
error_rate=$(curl --silent "https://metrics.example.internal/api/v1/query?query=error_rate%7Bapp%3D%22#{Kubernetes.DeploymentName}%22%7D" | jq -r '.data.result[0].value[1]')
echo "Canary error rate: $error_rate"
if (( $(echo "$error_rate > 0.01" | bc -l) )); then
  echo "Canary is unhealthy, stopping the rollout" >&2
  exit 1
fi
"##;

pub(crate) const PROVISION_DATABASE: &str = r##"$ErrorActionPreference = "Stop"
$database = "#{Tenant.Database.Name}"
Import-Module SqlServer
$exists = Invoke-Sqlcmd -ServerInstance "#{Database.Server}" -Query "SELECT 1 FROM sys.databases WHERE name = '$database'"
if (-not $exists) {
    Invoke-Sqlcmd -ServerInstance "#{Database.Server}" -Query "CREATE DATABASE [$database]"
    Write-Host "Created database $database"
} else {
    Write-Host "Database $database already exists"
}
"##;

pub(crate) const DATA_QUALITY: &str = r##"import sys
import psycopg2

connection = psycopg2.connect("#{Warehouse.ConnectionString}")
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM staging.orders WHERE customer_id IS NULL")
    (orphans,) = cursor.fetchone()
print(f"{orphans} orders without a customer")
sys.exit(1 if orphans > #{DataQuality.MaxOrphans} else 0)
"##;

pub(crate) const ROLLBACK: &str = r##"#!/usr/bin/env bash
set -euo pipefail
echo "Deployment of #{Cuttle.Release.Number} failed; restoring #{Cuttle.Release.PreviousForEnvironment.Number}"
ln -sfn "/opt/#{Cuttle.Project.Name | ToLower}/releases/#{Cuttle.Release.PreviousForEnvironment.Number}" \
  "/opt/#{Cuttle.Project.Name | ToLower}/current"
systemctl restart "#{Cuttle.Project.Name | ToLower}"
"##;
