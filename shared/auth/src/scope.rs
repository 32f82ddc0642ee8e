//! Scopes (what a token may do) and roles (which scopes a seller's user gets).

use poem_openapi::OAuthScopes;

macro_rules! scopes {
    ($($(#[doc = $doc:literal])* $v:ident = $name:literal),* $(,)?) => {
        /// One right a token can carry. Operations name the scopes they need.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, OAuthScopes, poem_openapi::Enum)]
        pub enum Scope {
            $($(#[doc = $doc])* #[oai(rename = $name)] $v,)*
        }

        impl Scope {
            /// Every scope, in declaration order (its bit in [`Scopes`]).
            pub const ALL: &'static [Scope] = &[$(Scope::$v),*];

            /// The scope's name, e.g. `orders:read`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Scope::$v => $name,)*
                }
            }
        }
    };
}

scopes! {
    /// Read orders, their holds and history.
    OrdersRead = "orders:read",
    /// Hold, release, ship and otherwise change orders.
    OrdersWrite = "orders:write",
    /// Read SKUs, warehouses, stock levels and reservations.
    StockRead = "stock:read",
    /// Create SKUs and warehouses, adjust stock, reserve.
    StockWrite = "stock:write",
    /// Read marketplace channels, their listings and sync reports.
    ChannelsRead = "channels:read",
    /// Map listings to SKUs, set stock sync, reconcile.
    ChannelsWrite = "channels:write",
    /// Read invoices and credit notes.
    InvoicesRead = "invoices:read",
    /// Issue and void invoices, set tax categories.
    InvoicesWrite = "invoices:write",
    /// Read shipments, waybills, labels and returns.
    ShippingRead = "shipping:read",
    /// Draw waybills, print labels, ship, receive returns.
    ShippingWrite = "shipping:write",
    /// Read the tenant's event stream.
    EventsRead = "events:read",
    /// Subscribe URLs to events.
    EventsWrite = "events:write",
    /// Read the tenant's API audit log.
    AuditRead = "audit:read",
    /// Change the tenant's settings: marketplace channels and their credentials, carrier
    /// accounts, routing, audit, allocation, invoicing and inventory settings.
    SettingsWrite = "settings:write",
    /// List the tenant's users.
    UsersRead = "users:read",
    /// Invite users and change their roles (owner only).
    UsersWrite = "users:write",
    /// List the apps the tenant granted access (owner only).
    GrantsRead = "grants:read",
    /// Grant apps access and revoke it (owner only; never an app's).
    GrantsWrite = "grants:write",
    /// List the apps this tenant registered as an ISV (owner only).
    AppsRead = "apps:read",
    /// Register apps and rotate their secrets (owner only; never an app's).
    AppsWrite = "apps:write",
}

impl Scope {
    /// The scope named `name`.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.iter().copied().find(|s| s.as_str() == name)
    }

    fn bit(self) -> u32 {
        1 << Scope::ALL.iter().position(|s| *s == self).expect("every scope is in ALL")
    }

    /// Whether an app may hold it. Granting, registering apps and managing users stay with
    /// the seller's owner: an app that could grant apps could hand the tenant to anyone.
    pub fn grantable(self) -> bool {
        !matches!(self, Scope::GrantsRead | Scope::GrantsWrite | Scope::AppsRead | Scope::AppsWrite | Scope::UsersWrite)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Scopes(u32);

impl Scopes {
    /// Every scope.
    pub const ALL_SCOPES: Scopes = Scopes((1 << Scope::ALL.len() as u32) - 1);

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }

    /// Whether every scope of `other` is in `self`.
    pub fn covers(self, other: Scopes) -> bool {
        other.0 & !self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.iter().copied().filter(move |s| self.contains(*s))
    }

    /// The scopes an app may hold (see [`Scope::grantable`]).
    pub fn grantable() -> Scopes {
        Scope::ALL.iter().copied().filter(|s| s.grantable()).collect()
    }

    /// Space-separated scope names (as OAuth's `scope` parameter carries them; commas are
    /// taken too). Fails with the first unknown name.
    pub fn parse(list: &str) -> Result<Scopes, String> {
        list.split([' ', ',']).filter(|s| !s.is_empty()).map(|s| Scope::parse(s).ok_or_else(|| s.to_owned())).collect()
    }
}

impl From<Scope> for Scopes {
    fn from(s: Scope) -> Scopes {
        Scopes(s.bit())
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Scopes {
        Scopes(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

impl std::ops::BitOr<Scope> for Scopes {
    type Output = Scopes;
    fn bitor(self, s: Scope) -> Scopes {
        Scopes(self.0 | s.bit())
    }
}

impl std::ops::BitOr for Scopes {
    type Output = Scopes;
    fn bitor(self, o: Scopes) -> Scopes {
        Scopes(self.0 | o.0)
    }
}

impl std::ops::BitAnd for Scopes {
    type Output = Scopes;
    fn bitand(self, o: Scopes) -> Scopes {
        Scopes(self.0 & o.0)
    }
}

impl std::ops::Sub for Scopes {
    type Output = Scopes;
    fn sub(self, o: Scopes) -> Scopes {
        Scopes(self.0 & !o.0)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

/// A seller user's role. The owner (who signed up) may do everything; staff may do the daily
/// work but not grant apps, register apps, manage users or change settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Owner,
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Staff => "staff",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }

    /// The scopes the role gives.
    pub fn scopes(self) -> Scopes {
        match self {
            Role::Owner => Scopes::ALL_SCOPES,
            Role::Staff => {
                Scopes::ALL_SCOPES
                    - [
                        Scope::SettingsWrite,
                        Scope::UsersWrite,
                        Scope::GrantsRead,
                        Scope::GrantsWrite,
                        Scope::AppsRead,
                        Scope::AppsWrite,
                    ]
                    .into_iter()
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_and_print() {
        let s = Scopes::parse("orders:read  stock:write,orders:read").unwrap();
        assert_eq!(s.to_string(), "orders:read stock:write");
        assert_eq!(Scopes::parse("orders:read nope"), Err("nope".into()));
        assert_eq!(Scopes::parse("").unwrap(), Scopes::default());
        assert_eq!(Scopes::ALL_SCOPES.iter().count(), Scope::ALL.len());
        assert!(Scopes::ALL_SCOPES.covers(s));
        assert!(!s.covers(Scopes::ALL_SCOPES));
    }

    #[test]
    fn staff_cannot_grant_or_change_settings_and_apps_cannot_grant() {
        let staff = Role::Staff.scopes();
        assert!(staff.contains(Scope::OrdersWrite) && staff.contains(Scope::UsersRead));
        assert!(!staff.contains(Scope::GrantsWrite) && !staff.contains(Scope::SettingsWrite));
        assert!(!Scopes::grantable().contains(Scope::GrantsWrite));
        assert!(!Scopes::grantable().contains(Scope::AppsWrite));
        assert!(Scopes::grantable().contains(Scope::SettingsWrite));
    }
}
