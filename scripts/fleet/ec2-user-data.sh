#!/bin/bash
# EC2 user data for a harness worker node (Amazon Linux 2023 or Debian/Ubuntu, arm64 or
# x86_64). It installs the harness binary from HARNESS_URL, writes the shared secret
# from SSM Parameter Store, and starts the daemon under systemd on port 7700.
#
# Fill in before launching (e.g. with sed, or from a launch template):
#   HARNESS_URL    where the build lives, e.g. an S3 presigned URL of target/release/harness
#   SECRET_PARAM   an SSM SecureString parameter holding the secret (`openssl rand -hex 32`);
#                  the instance role needs ssm:GetParameter on it, plus lambda:InvokeFunction
#                  on the function under test
# Then point the coordinator at the fleet (see docs/distributed.md).
set -euo pipefail
HARNESS_URL="${HARNESS_URL:-REPLACE_WITH_BINARY_URL}"
SECRET_PARAM="${SECRET_PARAM:-/harness/worker-secret}"

curl -fsSL "$HARNESS_URL" -o /usr/local/bin/harness
chmod 0755 /usr/local/bin/harness
install -d -m 0700 /etc/harness
aws ssm get-parameter --with-decryption --name "$SECRET_PARAM" --query Parameter.Value --output text \
  > /etc/harness/worker-secret
chmod 0600 /etc/harness/worker-secret

cat > /etc/systemd/system/harness-worker.service <<'UNIT'
[Unit]
Description=harness worker daemon
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/harness worker --listen 0.0.0.0:7700 --secret-file /etc/harness/worker-secret
Restart=on-failure
RestartSec=2
Environment=HARNESS_LOG=info
LimitNOFILE=1048576
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now harness-worker
