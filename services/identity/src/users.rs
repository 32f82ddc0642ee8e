//! `/v1/users` and `/v1/invites/accept`: the owner invites staff; an invited person sets a
//! password and becomes a user of the tenant with the invited role.
//!
//! There is no mail here: the invitation's token (and a dashboard link carrying it) is shown
//! once to the owner, who passes it on. It lasts seven days; inviting the same email again
//! replaces the pending invitation (the old link stops working).

use crate::{
    db::{user_invites, users},
    http::{hash_password, normalize_email},
    secret,
};
use auth::{BearerAuth, JwtKeys, Role, Scope, TenantContext};
use kernel::{SharedClock, TenantId};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, Tags};
use problem::status::{AUTHENTICATED, BAD_REQUEST, CONFLICT, NOT_FOUND, PUBLIC, UNSUPPORTED_MEDIA_TYPE, WRITE};
use problem::{ApiResult, Code, Json, Problem};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

#[derive(Tags)]
enum Tag {
    /// The tenant's users, their roles and invitations.
    Users,
}

/// How long an invitation can be accepted.
const INVITE_DAYS: i64 = 7;

/// The users API.
pub struct UsersApi {
    db: store::Db,
    keys: JwtKeys,
    clock: SharedClock,
    public_url: String,
}

impl UsersApi {
    pub fn new(db: store::Db, keys: JwtKeys, clock: SharedClock, public_url: String) -> Self {
        UsersApi { db, keys, clock, public_url }
    }
}

/// A user's role: `owner` may do everything; `staff` may do the daily work but not grant or
/// register apps, manage users or change settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "UserRole", rename_all = "snake_case")]
enum RoleDto {
    Owner,
    Staff,
}

impl From<RoleDto> for Role {
    fn from(r: RoleDto) -> Role {
        match r {
            RoleDto::Owner => Role::Owner,
            RoleDto::Staff => Role::Staff,
        }
    }
}

fn role_dto(s: &str) -> RoleDto {
    if s == "owner" { RoleDto::Owner } else { RoleDto::Staff }
}

#[derive(Debug, Object)]
struct UserDto {
    id: Uuid,
    email: String,
    role: RoleDto,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Object)]
struct InviteDto {
    id: Uuid,
    email: String,
    role: RoleDto,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
}

impl From<user_invites::Model> for InviteDto {
    fn from(i: user_invites::Model) -> Self {
        InviteDto {
            id: i.id,
            email: i.email,
            role: role_dto(&i.role),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

#[derive(Debug, Object)]
struct UsersList {
    users: Vec<UserDto>,
    /// Invitations not yet accepted and not expired.
    invites: Vec<InviteDto>,
}

#[derive(ApiResponse)]
enum UsersFound {
    #[oai(status = 200)]
    Ok(Json<UsersList>),
}

#[derive(Debug, Object)]
struct InviteIn {
    #[oai(validator(min_length = 3, max_length = 254))]
    email: String,
    role: RoleDto,
}

#[derive(Debug, Object)]
struct Invitation {
    invite: InviteDto,
    /// Shown once: whoever holds it may join the tenant with the role.
    token: String,
    /// The dashboard page that accepts it.
    accept_url: String,
}

#[derive(ApiResponse)]
enum Invited {
    /// The invitation; pass the token or the link to the person.
    #[oai(status = 201)]
    Created(Json<Invitation>),
}

#[derive(Debug, Object)]
struct AcceptIn {
    #[oai(validator(min_length = 1, max_length = 200))]
    token: String,
    /// At least 8 characters.
    #[oai(validator(min_length = 8, max_length = 256))]
    password: String,
}

#[derive(Debug, Object)]
struct Joined {
    tenant_id: Uuid,
    user_id: Uuid,
    role: RoleDto,
    access_token: String,
}

#[derive(ApiResponse)]
enum Accepted {
    /// The user was created; here is their first token.
    #[oai(status = 201)]
    Created(Json<Joined>),
}

fn invalid_invite() -> Problem {
    Problem::new(Code::NotFound, "This invitation does not exist, was replaced, has expired or was already used.")
}

#[OpenApi(prefix_path = "/v1", tag = "Tag::Users")]
impl UsersApi {
    /// The tenant's users and pending invitations.
    #[oai(path = "/users", method = "get")]
    async fn list(&self, #[oai(scope = "Scope::UsersRead")] auth: BearerAuth) -> ApiResult<UsersFound, AUTHENTICATED> {
        let t = auth.0.tenant_id.0;
        let db = self.db.tenant(t);
        let found = users::Entity::find()
            .filter(users::Column::TenantId.eq(t))
            .order_by_asc(users::Column::CreatedAt)
            .all(db.conn())
            .await
            .map_err(Problem::internal)?;
        let now = self.clock.now();
        let invites = user_invites::Entity::find()
            .filter(user_invites::Column::TenantId.eq(t))
            .filter(user_invites::Column::AcceptedAt.is_null())
            .filter(user_invites::Column::ExpiresAt.gt(now))
            .order_by_asc(user_invites::Column::CreatedAt)
            .all(db.conn())
            .await
            .map_err(Problem::internal)?;
        Ok(UsersFound::Ok(Json(UsersList {
            users: found
                .into_iter()
                .map(|u| UserDto { id: u.id, email: u.email, role: role_dto(&u.role), created_at: u.created_at })
                .collect(),
            invites: invites.into_iter().map(Into::into).collect(),
        })))
    }

    /// Invites someone to the tenant with a role (owner only). Inviting an email again
    /// replaces its pending invitation.
    #[oai(path = "/users", method = "post")]
    async fn invite(
        &self,
        #[oai(scope = "Scope::UsersWrite")] auth: BearerAuth,
        body: Json<InviteIn>,
    ) -> ApiResult<Invited, { WRITE | CONFLICT }> {
        let t = auth.0.tenant_id.0;
        let email = normalize_email(&body.email)?;
        // An email is one account across all tenants: the check spans them (the unique index
        // on `users.email` backs it at the insert).
        let taken = users::Entity::find()
            .filter(users::Column::Email.eq(email.clone()))
            .one(self.db.system().conn())
            .await
            .map_err(Problem::internal)?;
        if taken.is_some() {
            return Err(Problem::new(Code::EmailTaken, "This email already has a Cairn account.").into());
        }
        let tx = self.db.tenant(t).write().await.map_err(Problem::internal)?;
        user_invites::Entity::delete_many()
            .filter(user_invites::Column::TenantId.eq(t))
            .filter(user_invites::Column::Email.eq(email.clone()))
            .filter(user_invites::Column::AcceptedAt.is_null())
            .exec(&*tx)
            .await
            .map_err(Problem::internal)?;
        let token = secret::tenant_token(t);
        let now = self.clock.now();
        let invite = user_invites::Model {
            tenant_id: t,
            id: kernel::new_id(),
            email,
            role: Role::from(body.role).as_str().to_owned(),
            token_hash: secret::hash(&token),
            invited_by: auth_user(&auth.0),
            created_at: now,
            expires_at: now + chrono::Duration::days(INVITE_DAYS),
            accepted_at: None,
        };
        user_invites::Entity::insert(user_invites::ActiveModel::from(invite.clone()))
            .exec_without_returning(&*tx)
            .await
            .map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        let accept_url = format!("{}/invite#token={token}", self.public_url.trim_end_matches('/'));
        Ok(Invited::Created(Json(Invitation { invite: invite.into(), token, accept_url })))
    }

    /// Accepts an invitation: sets the password and returns a token for the new user.
    #[oai(path = "/invites/accept", method = "post")]
    async fn accept(
        &self,
        body: Json<AcceptIn>,
    ) -> ApiResult<Accepted, { PUBLIC | BAD_REQUEST | UNSUPPORTED_MEDIA_TYPE | NOT_FOUND | CONFLICT }> {
        let Some((tenant, hash)) = secret::split_tenant_token(body.token.trim()) else {
            return Err(invalid_invite().into());
        };
        let password_hash = hash_password(body.0.password).await?;
        let tx = self.db.tenant(tenant).write().await.map_err(Problem::internal)?;
        let now = self.clock.now();
        let invite = user_invites::Entity::find()
            .filter(user_invites::Column::TenantId.eq(tenant))
            .filter(user_invites::Column::TokenHash.eq(hash))
            .one(&*tx)
            .await
            .map_err(Problem::internal)?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > now)
            .ok_or_else(invalid_invite)?;
        let role = Role::parse(&invite.role).unwrap_or(Role::Staff);
        let user_id = kernel::new_id();
        let user = users::ActiveModel {
            tenant_id: Set(tenant),
            id: Set(user_id),
            email: Set(invite.email.clone()),
            password_hash: Set(password_hash),
            role: Set(role.as_str().to_owned()),
            created_at: Set(now),
        };
        if let Err(e) = users::Entity::insert(user).exec_without_returning(&*tx).await {
            return Err(if store::is_unique_violation(&e) {
                Problem::new(Code::EmailTaken, "This email already has a Cairn account.")
            } else {
                Problem::internal(e)
            }
            .into());
        }
        let mut done: user_invites::ActiveModel = invite.into();
        done.accepted_at = Set(Some(now));
        user_invites::Entity::update(done).exec(&*tx).await.map_err(Problem::internal)?;
        tx.commit().await.map_err(Problem::internal)?;
        let ctx = TenantContext::user(TenantId(tenant), user_id, role);
        Ok(Accepted::Created(Json(Joined {
            tenant_id: tenant,
            user_id,
            role: if role == Role::Owner { RoleDto::Owner } else { RoleDto::Staff },
            access_token: self.keys.issue(&ctx),
        })))
    }
}

/// The user behind a call that only users can make (their scopes are never granted to apps).
pub(crate) fn auth_user(ctx: &TenantContext) -> Uuid {
    match ctx.actor {
        auth::Actor::User(id) => id,
        auth::Actor::App { app_id, .. } => app_id,
    }
}
