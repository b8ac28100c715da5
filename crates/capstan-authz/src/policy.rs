//! Compiled policy lines and one Casbin `Enforce` call over them.
//!
//! Argo CD's model (`assets/model.conf`):
//!
//! ```text
//! m = g(r.sub, p.sub) && globOrRegexMatch(r.res, p.res) && globOrRegexMatch(r.act, p.act) && globOrRegexMatch(r.obj, p.obj)
//! e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
//! ```
//!
//! `g` is Casbin's default role manager, which follows `g` lines at most
//! [`MAX_ROLE_DEPTH`](crate::MAX_ROLE_DEPTH) levels deep. The matcher is evaluated left to right
//! and stops at the first false term, so a pattern is only evaluated once the terms before it
//! matched; an unevaluable pattern (invalid regex) fails the whole call. Because a deny, an
//! evaluation error and "no allow" all give the same answer, the order of the lines does not
//! matter and lines are indexed by subject.

use std::collections::HashMap;

use capstan_types::settings::{MatchMode, PolicyEffect, PolicyRule};

use crate::pattern::{Pattern, Unmatchable};
use crate::{MAX_ROLE_DEPTH, PatternError};

/// One compiled permission line (its subject is the key it is stored under).
#[derive(Clone, Debug)]
struct Rule {
    resource: Pattern,
    action: Pattern,
    object: Pattern,
    effect: PolicyEffect,
}

impl Rule {
    /// The matcher after `g(...)`: resource, then action, then object, stopping at the first
    /// field that does not match.
    fn matches(&self, resource: &str, action: &str, object: &str) -> Result<bool, Unmatchable> {
        Ok(self.resource.matches(resource)?
            && self.action.matches(action)?
            && self.object.matches(object)?)
    }
}

/// Policy lines compiled for one match mode: permissions by subject, role links by member.
#[derive(Clone, Debug, Default)]
pub(crate) struct PolicySet {
    rules: HashMap<String, Vec<Rule>>,
    roles: HashMap<String, Vec<String>>,
}

impl PolicySet {
    /// Adds `rule`, compiling its patterns for `mode`; patterns that do not compile are
    /// recorded in `errors` and make the line unevaluable, as in Casbin.
    pub(crate) fn add(
        &mut self,
        rule: &PolicyRule,
        mode: MatchMode,
        errors: &mut Vec<PatternError>,
    ) {
        match rule {
            PolicyRule::Permission {
                subject,
                resource,
                action,
                object,
                effect,
            } => {
                let mut compile = |pattern: &str| {
                    Pattern::compile(pattern, mode).unwrap_or_else(|message| {
                        errors.push(PatternError {
                            rule: rule.to_string(),
                            pattern: pattern.to_owned(),
                            message,
                        });
                        Pattern::BadRegex
                    })
                };
                let compiled = Rule {
                    resource: compile(resource),
                    action: compile(action),
                    object: compile(object),
                    effect: *effect,
                };
                self.rules
                    .entry(subject.clone())
                    .or_default()
                    .push(compiled);
            }
            PolicyRule::Grouping { subject, role } => {
                let roles = self.roles.entry(subject.clone()).or_default();
                if !roles.contains(role) {
                    roles.push(role.clone());
                }
            }
        }
    }
}

/// The policy one enforcement sees: the built-in and user policy, plus a project's policy when
/// the request concerns a project (Argo CD's `EnforceRuntimePolicy`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    pub(crate) base: &'a PolicySet,
    pub(crate) project: Option<&'a PolicySet>,
}

impl<'a> View<'a> {
    fn sets(self) -> impl Iterator<Item = &'a PolicySet> {
        std::iter::once(self.base).chain(self.project)
    }

    /// Whether `name` is the subject of a `g` line (Argo CD only enforces a user's groups that
    /// are).
    pub(crate) fn is_grouping_subject(self, name: &str) -> bool {
        self.sets().any(|set| set.roles.contains_key(name))
    }

    /// `name` and every role it inherits through `g` lines, at most [`MAX_ROLE_DEPTH`] links
    /// away (Casbin's default role manager).
    pub(crate) fn roles_of<'s>(self, name: &'s str) -> Vec<&'s str>
    where
        'a: 's,
    {
        let mut names = vec![name];
        let mut level_start = 0;
        for _ in 0..MAX_ROLE_DEPTH {
            let level_end = names.len();
            for index in level_start..level_end {
                let member = names[index];
                for set in self.sets() {
                    for role in set.roles.get(member).into_iter().flatten() {
                        if !names.contains(&role.as_str()) {
                            names.push(role);
                        }
                    }
                }
            }
            if names.len() == level_end {
                break;
            }
            level_start = level_end;
        }
        names
    }

    /// One Casbin `Enforce(subject, resource, action, object)`: allowed when a line of the
    /// subject (or of a role it inherits) allows the request and none denies it, and no line
    /// that had to be evaluated is unevaluable.
    pub(crate) fn enforce(self, subject: &str, resource: &str, action: &str, object: &str) -> bool {
        let mut allowed = false;
        for name in self.roles_of(subject) {
            for set in self.sets() {
                for rule in set.rules.get(name).into_iter().flatten() {
                    match rule.matches(resource, action, object) {
                        Ok(false) => {}
                        Ok(true) if rule.effect == PolicyEffect::Allow => allowed = true,
                        Ok(true) | Err(Unmatchable) => return false,
                    }
                }
            }
        }
        allowed
    }
}
