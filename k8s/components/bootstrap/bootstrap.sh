#!/bin/sh
# Creates, idempotently, what the services need in PostgreSQL and RabbitMQ before they start:
#
#   PostgreSQL  per service: a LOGIN role (no superuser/createdb/createrole) that owns only its
#               own database (INHERIT, so it uses pg_database_owner's rights on schema public); CONNECT/TEMP/CREATE revoked from PUBLIC on that database, so no other
#               role can connect to it. The services' migrations run as that role: as owner of the
#               database (and, through pg_database_owner, of its public schema) it may create tables
#               and trusted extensions (catalog's pg_trgm).
#   RabbitMQ    per service using AMQP: a user (no tags) with permissions on one vhost, limited to
#               the names its topology uses (service-kit messaging): the exchange retail.events,
#               its queue <q>, <q>.dlq and <q>.retry.<n>ms, and amq.default (retries, dead letters
#               and replays are published through the default exchange). Publishers only (users)
#               get retail.events alone.
#
# Usage: bootstrap.sh [postgres|rabbitmq|all]     (default all). Exit 0 when everything is as
# wanted; prints one line per object: "created", "updated" or "unchanged".
#
# Environment (every endpoint and credential; the Kubernetes Job fills them from Secrets Manager):
#   PGHOST PGPORT PGUSER PGPASSWORD PGSSLMODE PGSSLROOTCERT   admin connection (libpq variables)
#   BOOTSTRAP_PREFIX           prepended to every role, database and RabbitMQ user name (default
#                              empty; a throwaway prefix for local runs)
#   BOOTSTRAP_DB_SERVICES      default "catalog inventory orders payments users"
#   <SVC>_DB_USERNAME <SVC>_DB_PASSWORD <SVC>_DB_NAME   per service (SVC upper case); the name
#                              defaults to the service, the password is required
#   BOOTSTRAP_AMQP_CONSUMERS   default "inventory orders payments bridge"
#   BOOTSTRAP_AMQP_PUBLISHERS  default "users"
#   <SVC>_AMQP_USERNAME <SVC>_AMQP_PASSWORD <SVC>_AMQP_VHOST <SVC>_AMQP_QUEUE   per service
#                              (username and queue default to the service, vhost to "/")
#   RABBITMQ_ADMIN             "api" (default: management HTTP API, Amazon MQ) or "rabbitmqctl"
#                              (a local broker without the management plugin)
#   RABBITMQ_API_URL RABBITMQ_ADMIN_USERNAME RABBITMQ_ADMIN_PASSWORD   for "api"
#   RABBITMQ_EXCHANGE          default retail.events
set -eu

PREFIX="${BOOTSTRAP_PREFIX:-}"
EXCHANGE="${RABBITMQ_EXCHANGE:-retail.events}"

log() { printf '%s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

upper() { printf '%s' "$1" | tr 'a-z-' 'A-Z_'; }
# The value of variable <SVC>_<suffix>, or a default.
setting() {
    name="$(upper "$1")_$2"
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        [ $# -ge 3 ] || die "$name is not set"
        value="$3"
    fi
    printf '%s' "$value"
}
# Names go into SQL identifiers and URLs: keep them to a safe alphabet.
check_name() {
    case "$1" in
        ''|*[!a-z0-9_.-]*) die "unsupported name '$1' (lowercase letters, digits, _ . - only)" ;;
    esac
}

# ---------------------------------------------------------------------------------- PostgreSQL

admin_sql() { psql -X -q -v ON_ERROR_STOP=1 -At -d "${PGDATABASE:-postgres}" "$@"; }

ensure_database() {
    service="$1"
    role="$PREFIX$(setting "$service" DB_USERNAME "$service")"
    db="$PREFIX$(setting "$service" DB_NAME "$service")"
    password="$(setting "$service" DB_PASSWORD)"
    check_name "$role"; check_name "$db"

    exists="$(admin_sql -v r="$role" <<'SQL'
select count(*) from pg_roles where rolname = :'r';
SQL
)"
    if [ "$exists" = 0 ]; then
        admin_sql -v r="$role" -v p="$password" <<'SQL'
create role :"r" login nosuperuser nocreatedb nocreaterole inherit password :'p';
SQL
        log "postgres role $role: created"
    else
        # Attributes and password (tested by logging in as the role: a hash cannot be compared,
        # and RDS does not expose pg_authid).
        wrong="$(admin_sql -v r="$role" <<'SQL'
select count(*) from pg_roles where rolname = :'r'
  and not (rolcanlogin and not rolsuper and not rolcreatedb and not rolcreaterole and rolinherit);
SQL
)"
        if [ "$wrong" != 0 ] || ! PGPASSWORD="$password" psql -X -q -At -U "$role" -d "$db" -c 'select 1' >/dev/null 2>&1; then
            admin_sql -v r="$role" -v p="$password" <<'SQL'
alter role :"r" login nosuperuser nocreatedb nocreaterole inherit password :'p';
SQL
            log "postgres role $role: updated"
        else
            log "postgres role $role: unchanged"
        fi
    fi

    # On RDS the master user is no superuser: PostgreSQL 15 lets it create a database owned by
    # another role only as a member of that role.
    member="$(admin_sql -v r="$role" <<'SQL'
select pg_has_role(current_user, :'r', 'MEMBER');
SQL
)"
    if [ "$member" != t ]; then
        admin_sql -v r="$role" <<'SQL'
grant :"r" to current_user;
SQL
        log "postgres membership of $role for the admin user: granted"
    fi

    owner="$(admin_sql -v d="$db" <<'SQL'
select pg_get_userbyid(datdba) from pg_database where datname = :'d';
SQL
)"
    if [ -z "$owner" ]; then
        admin_sql -v d="$db" -v r="$role" <<'SQL'
create database :"d" owner :"r";
SQL
        log "postgres database $db: created (owner $role)"
    elif [ "$owner" != "$role" ]; then
        admin_sql -v d="$db" -v r="$role" <<'SQL'
alter database :"d" owner to :"r";
SQL
        log "postgres database $db: owner $owner -> $role"
    else
        log "postgres database $db: unchanged"
    fi

    public="$(admin_sql -v d="$db" <<'SQL'
select has_database_privilege('public', :'d', 'CONNECT')
    or has_database_privilege('public', :'d', 'TEMPORARY')
    or has_database_privilege('public', :'d', 'CREATE');
SQL
)"
    if [ "$public" = t ]; then
        admin_sql -v d="$db" <<'SQL'
revoke all on database :"d" from public;
SQL
        log "postgres database $db: revoked all from PUBLIC"
    else
        log "postgres database $db: PUBLIC has no access (unchanged)"
    fi
}

run_postgres() {
    psql -X -q -At -d "${PGDATABASE:-postgres}" -c 'select 1' >/dev/null || die "cannot connect to PostgreSQL as ${PGUSER:-?}@${PGHOST:-?}"
    for service in ${BOOTSTRAP_DB_SERVICES:-catalog inventory orders payments users}; do
        ensure_database "$service"
    done
}

# ---------------------------------------------------------------------------------- RabbitMQ

# Values that go into JSON bodies: no control characters (checked directly, not inside a
# command substitution, where die would end only the subshell).
NL='
'
TAB="$(printf '\t')"
check_text() {
    case "$1" in *"$NL"*|*"$TAB"*) die "control characters are not supported in $2" ;; esac
}
json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
urlpart() { printf '%s' "$1" | sed 's/%/%25/g; s#/#%2F#g'; }

# api METHOD PATH [BODY]: prints the HTTP status, the body goes to $BODY_FILE.
api() {
    if [ $# -ge 3 ]; then
        curl -sS -o "$BODY_FILE" -w '%{http_code}' -u "$RABBITMQ_ADMIN_USERNAME:$RABBITMQ_ADMIN_PASSWORD" \
            -X "$1" -H 'content-type: application/json' --data "$3" "${RABBITMQ_API_URL%/}$2"
    else
        curl -sS -o "$BODY_FILE" -w '%{http_code}' -u "$RABBITMQ_ADMIN_USERNAME:$RABBITMQ_ADMIN_PASSWORD" \
            -X "$1" "${RABBITMQ_API_URL%/}$2"
    fi
}
expect() { case " $2 " in *" $1 "*) ;; *) die "$3: HTTP $1 $(cat "$BODY_FILE" 2>/dev/null)" ;; esac; }

ensure_vhost() {
    vhost="$1"
    if [ "$MODE" = rabbitmqctl ]; then
        if rabbitmqctl -q list_vhosts name --no-table-headers | grep -qxF "$vhost"; then
            log "rabbitmq vhost $vhost: unchanged"
        else
            rabbitmqctl -q add_vhost "$vhost" >/dev/null
            log "rabbitmq vhost $vhost: created"
        fi
        return
    fi
    status="$(api GET "/api/vhosts/$(urlpart "$vhost")")"
    if [ "$status" = 200 ]; then
        log "rabbitmq vhost $vhost: unchanged"
    else
        expect "$status" 404 "vhost $vhost"
        expect "$(api PUT "/api/vhosts/$(urlpart "$vhost")" '{}')" "201 204" "create vhost $vhost"
        log "rabbitmq vhost $vhost: created"
    fi
}

ensure_user() {
    user="$1" password="$2"
    if [ "$MODE" = rabbitmqctl ]; then
        if ! rabbitmqctl -q list_users --no-table-headers | cut -f1 | grep -qxF "$user"; then
            printf '%s' "$password" | rabbitmqctl -q add_user "$user" >/dev/null
            log "rabbitmq user $user: created"
        elif ! rabbitmqctl -q authenticate_user "$user" "$password" >/dev/null 2>&1; then
            printf '%s' "$password" | rabbitmqctl -q change_password "$user" >/dev/null
            log "rabbitmq user $user: password updated"
        else
            log "rabbitmq user $user: unchanged"
        fi
        return
    fi
    existing="$(api GET "/api/users/$(urlpart "$user")")"
    if [ "$existing" = 200 ] && password_matches "$password" && ! grep -qF '"administrator"' "$BODY_FILE" \
        && ! grep -q '"tags":"[^"]' "$BODY_FILE" && ! grep -q '"tags":\[[^]]' "$BODY_FILE"; then
        log "rabbitmq user $user: unchanged"
        return
    fi
    [ "$existing" = 200 ] || expect "$existing" 404 "user $user"
    expect "$(api PUT "/api/users/$(urlpart "$user")" "{\"password\":$(json_string "$password"),\"tags\":\"\"}")" "201 204" "user $user"
    if [ "$existing" = 200 ]; then log "rabbitmq user $user: updated"; else log "rabbitmq user $user: created"; fi
}

# Whether the user in $BODY_FILE (GET /api/users/<name>) has password $1. A user without tags
# cannot sign in to the management API, so the stored hash is compared instead: RabbitMQ keeps
# base64(salt[4] ++ H(salt[4] ++ password)), H being SHA-256 (the default, and Amazon MQ's) or
# SHA-512.
password_matches() {
    stored="$(sed -n 's/.*"password_hash":"\([A-Za-z0-9+\/=]*\)".*/\1/p' "$BODY_FILE")"
    case "$(sed -n 's/.*"hashing_algorithm":"\([a-z0-9_]*\)".*/\1/p' "$BODY_FILE")" in
        rabbit_password_hashing_sha256) digest=sha256sum; size=32 ;;
        rabbit_password_hashing_sha512) digest=sha512sum; size=64 ;;
        *) return 1 ;;
    esac
    [ -n "$stored" ] || return 1
    hash_file="$(mktemp)"
    printf '%s' "$stored" | base64 -d >"$hash_file" 2>/dev/null || { rm -f "$hash_file"; return 1; }
    want="$(tail -c "$size" "$hash_file" | od -An -v -tx1 | tr -d ' \n')"
    got="$({ head -c 4 "$hash_file"; printf '%s' "$1"; } | "$digest" | cut -d ' ' -f 1)"
    rm -f "$hash_file"
    [ "$want" = "$got" ]
}

ensure_permissions() {
    user="$1" vhost="$2" configure="$3" write="$4" read="$5"
    if [ "$MODE" = rabbitmqctl ]; then
        current="$(rabbitmqctl -q list_user_permissions "$user" --no-table-headers | awk -F '\t' -v v="$vhost" '$1 == v')"
        wanted="$(printf '%s\t%s\t%s\t%s' "$vhost" "$configure" "$write" "$read")"
        if [ "$current" = "$wanted" ]; then
            log "rabbitmq permissions of $user on $vhost: unchanged"
        else
            rabbitmqctl -q set_permissions -p "$vhost" "$user" "$configure" "$write" "$read" >/dev/null
            log "rabbitmq permissions of $user on $vhost: set"
        fi
        return
    fi
    status="$(api GET "/api/permissions/$(urlpart "$vhost")/$(urlpart "$user")")"
    if [ "$status" = 200 ] \
        && grep -qF "\"configure\":$(json_string "$configure")" "$BODY_FILE" \
        && grep -qF "\"write\":$(json_string "$write")" "$BODY_FILE" \
        && grep -qF "\"read\":$(json_string "$read")" "$BODY_FILE"; then
        log "rabbitmq permissions of $user on $vhost: unchanged"
        return
    fi
    [ "$status" = 200 ] || expect "$status" 404 "permissions of $user"
    expect "$(api PUT "/api/permissions/$(urlpart "$vhost")/$(urlpart "$user")" \
        "{\"configure\":$(json_string "$configure"),\"write\":$(json_string "$write"),\"read\":$(json_string "$read")}")" \
        "201 204" "permissions of $user"
    log "rabbitmq permissions of $user on $vhost: set"
}

# Regular-expression quoting of a resource name (dots are the only metacharacter names allow).
re() { printf '%s' "$1" | sed 's/\./\\./g'; }

amqp_service() {
    service="$1" kind="$2"
    user="$PREFIX$(setting "$service" AMQP_USERNAME "$service")"
    password="$(setting "$service" AMQP_PASSWORD)"
    vhost="$(setting "$service" AMQP_VHOST /)"
    queue="$(setting "$service" AMQP_QUEUE "$service")"
    check_name "$user"; check_name "$queue"; check_name "$EXCHANGE"
    check_text "$password" "the password of $user"; check_text "$vhost" "vhost names"
    ensure_vhost "$vhost"
    ensure_user "$user" "$password"
    exchange="$(re "$EXCHANGE")"
    if [ "$kind" = consumer ]; then
        own="$(re "$queue")(\\.dlq|\\.retry\\.[0-9]+ms)?"
        ensure_permissions "$user" "$vhost" "^($exchange|$own)\$" "^($exchange|amq\\.default|$own)\$" "^($exchange|$own)\$"
    else
        ensure_permissions "$user" "$vhost" "^$exchange\$" "^$exchange\$" '^$'
    fi
}

run_rabbitmq() {
    MODE="${RABBITMQ_ADMIN:-api}"
    case "$MODE" in
        api)
            : "${RABBITMQ_API_URL:?RABBITMQ_API_URL is not set}" "${RABBITMQ_ADMIN_USERNAME:?}" "${RABBITMQ_ADMIN_PASSWORD:?}"
            BODY_FILE="$(mktemp)"
            trap 'rm -f "$BODY_FILE"' EXIT
            expect "$(api GET /api/whoami)" 200 "management API at $RABBITMQ_API_URL"
            ;;
        rabbitmqctl) rabbitmqctl -q status >/dev/null || die "rabbitmqctl cannot reach the node" ;;
        *) die "RABBITMQ_ADMIN must be api or rabbitmqctl, not $MODE" ;;
    esac
    for service in ${BOOTSTRAP_AMQP_CONSUMERS-inventory orders payments bridge}; do
        amqp_service "$service" consumer
    done
    for service in ${BOOTSTRAP_AMQP_PUBLISHERS-users}; do
        amqp_service "$service" publisher
    done
}

case "${1:-all}" in
    postgres) run_postgres ;;
    rabbitmq) run_rabbitmq ;;
    all) run_postgres; run_rabbitmq ;;
    *) die "usage: bootstrap.sh [postgres|rabbitmq|all]" ;;
esac
log "bootstrap ${1:-all}: done"
